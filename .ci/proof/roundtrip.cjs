'use strict'
// The installation proof's check, shared by smoke.cjs (require) and smoke.mjs (import):
// an rsws echo server on a free port, a `ws` client, one text and one binary message each
// way, then both ends closed. Resolves with the port; rejects on any mismatch or after 10 s.
module.exports = function roundtrip({ App, us_listen_socket_close, us_socket_local_port }, WebSocket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10000)
    let token
    App()
      .ws('/*', { message: (ws, message, isBinary) => ws.send(message, isBinary) })
      .listen('127.0.0.1', 0, (t) => {
        token = t
      })
    if (!token) return reject(new Error('listen failed'))
    const port = us_socket_local_port(token)
    const text = `hello from Node ${process.version}`
    const binary = Buffer.from([0, 1, 2, 253, 254, 255])
    const got = []
    const client = new WebSocket(`ws://127.0.0.1:${port}/echo`)
    client.on('error', reject)
    client.on('open', () => {
      client.send(text)
      client.send(binary)
    })
    client.on('message', (data, isBinary) => {
      got.push({ data: Buffer.from(data), isBinary })
      if (got.length < 2) return
      try {
        if (got[0].isBinary || got[0].data.toString() !== text) throw new Error(`text echo: ${got[0].data}`)
        if (!got[1].isBinary || !got[1].data.equals(binary)) throw new Error(`binary echo: ${got[1].data.toString('hex')}`)
      } catch (err) {
        return reject(err)
      }
      client.close(1000, 'done')
    })
    client.on('close', (code) => {
      clearTimeout(timer)
      us_listen_socket_close(token)
      if (code !== 1000) return reject(new Error(`client closed with ${code}`))
      resolve(port)
    })
  })
}
