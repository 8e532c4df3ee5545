'use strict'
// ws (v8) benchmark server. Usage: node ws.js [PORT] [echo|echo-open|echo-track|fanout]  (or env PORT, MODE)
// Prints "READY <port>" when listening; exits on SIGTERM/SIGINT.
// Fan-out the way ws users do it: loop client.send(msg) over the subscriber set
// (ws has no backpressure limit; nothing is dropped).
const { WebSocketServer } = require('ws')
const { openHandlers } = require('./open-handlers')

const port = Number(process.argv[2] || process.env.PORT || 0)
const mode = process.argv[3] || process.env.MODE || 'echo'

const wss = new WebSocketServer({
  port,
  host: '127.0.0.1',
  maxPayload: 16 * 1024 * 1024,
  perMessageDeflate: false,
  clientTracking: false,
})

if (mode === 'echo' || mode === 'echo-open' || mode === 'echo-track') {
  // `ws` always makes its object on connection; the handlers run on it as on the others.
  const { open, close } = openHandlers(mode)
  wss.on('connection', (ws) => {
    if (open) open(ws)
    if (close) ws.on('close', () => close(ws))
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  })
} else if (mode === 'fanout') {
  const subs = new Set()
  wss.on('connection', (ws, req) => {
    if (req.url === '/pub') {
      ws.on('message', (data, isBinary) => {
        const opts = { binary: isBinary }
        for (const client of subs) client.send(data, opts)
      })
    } else {
      subs.add(ws)
      ws.on('close', () => subs.delete(ws))
    }
  })
} else {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}

wss.on('listening', () => console.log(`READY ${wss.address().port} maxBackpressure=unlimited`))
wss.on('error', (err) => {
  console.error(`ws: ${err.message}`)
  process.exit(1)
})

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
