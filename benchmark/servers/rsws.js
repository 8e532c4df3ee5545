'use strict'
// rsws benchmark server. Usage: node rsws.js [PORT] [echo|echo-open|echo-track|fanout]  (or env PORT, MODE)
// Prints "READY <port>" when listening; exits on SIGTERM/SIGINT.
const path = require('path')
const { App, us_socket_local_port } = require(path.join(__dirname, '..', '..'))
const { openHandlers } = require('./open-handlers')

const port = Number(process.argv[2] || process.env.PORT || 0)
const mode = process.argv[3] || process.env.MODE || 'echo'
const MAX_PAYLOAD = 16 * 1024 * 1024
const MAX_BACKPRESSURE = 64 * 1024 * 1024

const app = App()
if (mode === 'echo' || mode === 'echo-open' || mode === 'echo-track') {
  app.ws('/*', {
    maxPayloadLength: MAX_PAYLOAD,
    idleTimeout: 0,
    ...openHandlers(mode),
    // RSWS_DETACH=1: messages detached when the handler returns, as uWS.js does.
    detachMessages: process.env.RSWS_DETACH === '1',
    message: (ws, msg, isBinary) => {
      ws.send(msg, isBinary)
    },
  })
} else if (mode === 'fanout') {
  // A build without pub/sub reports it, so the runner skips it for fan-out (A/B runs
  // against old checkouts).
  const unsupported = (what) => {
    console.log(`UNSUPPORTED pub/sub (${what} is not a function)`)
    process.exit(3)
  }
  if (typeof app.publish !== 'function') unsupported('app.publish')
  app.ws('/pub', {
    maxPayloadLength: MAX_PAYLOAD,
    idleTimeout: 0,
    maxBackpressure: MAX_BACKPRESSURE,
    message: (ws, msg, isBinary) => {
      app.publish('t', msg, isBinary)
    },
  })
  app.ws('/*', {
    maxPayloadLength: MAX_PAYLOAD,
    idleTimeout: 0,
    maxBackpressure: MAX_BACKPRESSURE,
    open: (ws) => {
      if (typeof ws.subscribe !== 'function') unsupported('ws.subscribe')
      ws.subscribe('t')
    },
  })
} else {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}

app.listen(port, (token) => {
  if (!token) {
    console.error(`rsws: cannot listen on port ${port}`)
    process.exit(1)
  }
  console.log(`READY ${us_socket_local_port(token)} maxBackpressure=${mode === 'fanout' ? MAX_BACKPRESSURE : 'default'}`)
})

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
