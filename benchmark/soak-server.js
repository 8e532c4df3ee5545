'use strict'
// The server side of benchmark/soak.js, in its own process so that its descriptors and
// RSS can be measured from outside. Started by soak.js with an IPC channel; prints
// nothing but errors. Not useful on its own.
//
// Routes:
//   /churn   echo; the message 'end' makes the server end the socket (1000, 'bye'),
//            'close' makes it drop the socket (1006).
//   /lazy    as /churn, but without an `open` handler: rsws makes each socket's
//            WebSocket only with its first event (a message or the close), so waves
//            here churn that path; every socket must still get exactly one `close`.
//   /steady  the server sends sequence-numbered text messages ("<seq>:<padding>") on a
//            timer while the socket is open. A send that returns 2 (dropped) does not
//            use up its number, so the accepted messages (send returned 1 or 0) are
//            exactly 0 .. n-1. `?life=<ms>` (upgrade query): after that long the server
//            ends the socket cleanly with reason "n=<n>", the number it accepted, and
//            the client checks it received all n. The client sends "c<seq>" messages,
//            which must arrive in order without gaps.
const { App, us_listen_socket_close, us_socket_local_port } = require('..')

const TICK_MS = Number(process.env.SOAK_TICK_MS || 20)
const BURST = Number(process.env.SOAK_BURST || 4)
const PAD = 'x'.repeat(Number(process.env.SOAK_PAD || 200))

const stats = {
  opens: 0,
  closes: 0,
  /** close events for a socket not open (double close or close without open) */
  badCloses: 0,
  /** open events for a socket already open */
  badOpens: 0,
  closeCodes: {},
  steadyAccepted: 0,
  steadyDropped: 0,
  steadyServerEnds: 0,
  /** client→server steady messages out of order or missing */
  inboundGaps: 0,
  inbound: 0,
  churnEchoes: 0,
  handlerErrors: 0,
  /** closes on /lazy (no open handler, so no opens to count) */
  lazyCloses: 0,
}
const live = new Set()
const steady = new Set()

function onOpen(ws) {
  stats.opens++
  if (live.has(ws)) stats.badOpens++
  live.add(ws)
}

function onClose(ws, code) {
  stats.closes++
  stats.closeCodes[code] = (stats.closeCodes[code] || 0) + 1
  if (!live.delete(ws)) stats.badCloses++
  steady.delete(ws)
}

const lazyClosed = new WeakSet()

function churnMessage(ws, m, isBinary) {
  const text = m.byteLength <= 5 ? Buffer.from(m).toString() : ''
  if (text === 'end') return ws.end(1000, 'bye')
  if (text === 'close') return ws.close()
  stats.churnEchoes++
  ws.send(m, isBinary)
}

const app = App()
  .ws('/churn', {
    idleTimeout: 60,
    open: onOpen,
    close: onClose,
    message: churnMessage,
  })
  .ws('/lazy', {
    idleTimeout: 60,
    close(ws, code) {
      stats.lazyCloses++
      stats.closeCodes[code] = (stats.closeCodes[code] || 0) + 1
      if (lazyClosed.has(ws)) stats.badCloses++
      lazyClosed.add(ws)
    },
    message: churnMessage,
  })
  .ws('/steady', {
    idleTimeout: 60,
    maxBackpressure: 256 * 1024,
    upgrade(res, req, context) {
      const life = Number(req.getQuery('life')) || 0
      res.upgrade(
        { life, seq: 0, inbound: 0 },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      )
    },
    open(ws) {
      onOpen(ws)
      const state = ws.getUserData()
      state.endAt = state.life > 0 ? Date.now() + state.life : Infinity
      steady.add(ws)
    },
    close: onClose,
    message(ws, m) {
      const state = ws.getUserData()
      const text = Buffer.from(m).toString()
      stats.inbound++
      if (text !== `c${state.inbound}`) stats.inboundGaps++
      state.inbound = Number(text.slice(1)) + 1
    },
  })

/** Sends each steady socket its next messages; ends the ones whose life is over. */
function tick() {
  const now = Date.now()
  for (const ws of steady) {
    const state = ws.getUserData()
    if (now >= state.endAt) {
      steady.delete(ws)
      stats.steadyServerEnds++
      ws.end(1000, `n=${state.seq}`)
      continue
    }
    for (let i = 0; i < BURST; i++) {
      // Keep the queue short instead of relying on drops; a drop is still handled.
      if (ws.getBufferedAmount() > 64 * 1024) break
      const status = ws.send(`${state.seq}:${PAD}`)
      if (status === 2) {
        stats.steadyDropped++
        break
      }
      state.seq++
      stats.steadyAccepted++
    }
  }
}

process.on('uncaughtException', (err) => {
  stats.handlerErrors++
  console.error('soak-server: uncaught', err)
})

let token
app.listen('127.0.0.1', 0, (t) => (token = t))
if (!token) {
  console.error('soak-server: listen failed')
  process.exit(1)
}
const timer = setInterval(tick, TICK_MS)

process.on('message', (msg) => {
  switch (msg.cmd) {
    case 'stats':
      process.send({ id: msg.id, stats: { ...stats, open: live.size, steadyOpen: steady.size, memory: process.memoryUsage() } })
      break
    case 'gc':
      if (global.gc) global.gc()
      process.send({ id: msg.id, memory: process.memoryUsage() })
      break
    case 'exit':
      clearInterval(timer)
      us_listen_socket_close(token)
      app.close()
      process.send({ id: msg.id })
      process.disconnect()
      break
  }
})
process.send({ ready: true, port: us_socket_local_port(token) })
