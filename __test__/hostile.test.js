'use strict'
// Hostile peers over real sockets: each case checks the refusal and that the server keeps
// serving others. (Protocol violations are in protocol.test.js, handshake errors in
// handshake.test.js.)
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { rsws, startServer, openClient, collect, withTimeout, sleep, RawClient, rawUpgrade, encodeFrame, upgradeRequest } = require('./helpers')

const T = { timeout: 30000 }

async function stillServes(s) {
  const c = await openClient(s.url())
  try {
    const got = collect(c, 1)
    c.send('still here')
    assert.equal((await got)[0].data.toString(), 'still here')
  } finally {
    c.terminate()
  }
}

const echo = { '/*': { message: (ws, m, isBinary) => ws.send(m, isBinary) } }

test('maxConnections: connections beyond it get 503 and are closed; freed places are reused', T, async () => {
  const app = rsws.App({ maxConnections: 3 }).ws('/*', echo['/*'])
  let token
  app.listen('127.0.0.1', 0, (t) => (token = t))
  const port = rsws.us_socket_local_port(token)
  const held = []
  try {
    for (let i = 0; i < 3; i++) held.push(await rawUpgrade(port))
    const refused = new RawClient(port)
    await refused.connected
    await refused.write(upgradeRequest('/'))
    await refused.waitHead()
    assert.equal(refused.status(), 503)
    await refused.waitEnd()
    held.pop().destroy()
    await sleep(200)
    const again = await rawUpgrade(port)
    assert.equal(again.status(), 101)
    again.destroy()
  } finally {
    for (const h of held) h.destroy()
    rsws.us_listen_socket_close(token)
  }
  assert.throws(() => rsws.App({ maxConnections: -1 }), TypeError)
})

test('10 000 headers: 431, and the server keeps serving', T, async () => {
  const s = startServer(echo)
  try {
    const headers = {}
    for (let i = 0; i < 10000; i++) headers[`x-h${i}`] = 'v'
    const raw = new RawClient(s.port)
    await raw.connected
    raw.socket.on('error', () => {})
    raw.write(upgradeRequest('/', { headers })).catch(() => {})
    await raw.waitHead()
    assert.equal(raw.status(), 431)
    raw.destroy()
    await stillServes(s)
  } finally {
    s.close()
  }
})

test('ping flood from a peer that never reads: pongs stop at a bound, memory stays flat', T, async () => {
  const s = startServer(echo)
  const raw = await rawUpgrade(s.port)
  try {
    raw.socket.pause()
    const ping = encodeFrame({ opcode: 9, payload: Buffer.alloc(125, 1) })
    const before = process.memoryUsage().rss
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping))
    for (let i = 0; i < 200; i++) {
      if (!raw.socket.write(burst)) await new Promise((r) => raw.socket.once('drain', r))
    }
    await sleep(300)
    const grown = process.memoryUsage().rss - before
    // 200 000 pongs would be 25 MiB if all were queued.
    assert.ok(grown < 16 * 1024 * 1024, `RSS grew ${grown} bytes`)
    await stillServes(s)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('a client that never reads while the server sends: queue bounded by maxBackpressure', T, async () => {
  let statuses = { 1: 0, 0: 0, 2: 0 }
  let amount = 0
  const s = startServer({
    ...echo,
    '/flood': {
      maxBackpressure: 1024 * 1024,
      open(ws) {
        const chunk = new Uint8Array(64 * 1024)
        for (let i = 0; i < 2000; i++) statuses[ws.send(chunk, true)]++
        amount = ws.getBufferedAmount()
      },
    },
  })
  const raw = new RawClient(s.port)
  try {
    await raw.connected
    raw.socket.pause()
    await raw.write(upgradeRequest('/flood'))
    await sleep(500)
    assert.ok(statuses[2] > 0, 'sends past the limit are dropped')
    assert.ok(amount < 1024 * 1024 + 64 * 1024 + 1024, `queued ${amount}`)
    await stillServes(s)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('endless continuation frames: closed with 1009 at maxPayloadLength', T, async () => {
  const s = startServer({ '/*': { ...echo['/*'], maxPayloadLength: 64 * 1024 } })
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: 2, fin: false, payload: Buffer.alloc(1024) }))
    for (let i = 0; i < 100 && !raw.closed; i++) {
      await raw.write(encodeFrame({ opcode: 0, fin: false, payload: Buffer.alloc(1024) })).catch(() => {})
    }
    const frames = await withTimeout(
      raw.waitFor((r) => r.frames().some((f) => f.opcode === 8)),
      5000,
      'close frame',
    )
    const close = frames.frames().find((f) => f.opcode === 8)
    assert.equal(close.payload.readUInt16BE(0), 1009)
    await stillServes(s)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('slowloris: a handshake trickled byte by byte is cut at the handshake timeout', { timeout: 30000 }, async () => {
  const s = startServer(echo)
  const raw = new RawClient(s.port)
  try {
    await raw.connected
    const request = Buffer.from(upgradeRequest('/'))
    const started = Date.now()
    let i = 0
    const timer = setInterval(() => {
      if (i < request.length && !raw.closed) raw.socket.write(request.subarray(i, ++i))
    }, 500)
    await withTimeout(raw.ended, 20000, 'server to drop the slow handshake')
    clearInterval(timer)
    const took = Date.now() - started
    assert.ok(took >= 9000 && took < 15000, `dropped after ${took} ms`)
    await stillServes(s)
  } finally {
    raw.destroy()
    s.close()
  }
})
