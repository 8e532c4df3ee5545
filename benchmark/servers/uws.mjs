// uWebSockets.js (v20, uws-pack) benchmark server. Usage: node uws.mjs [PORT] [echo|echo-open|echo-track|fanout]
// Prints "READY <port>" when listening; exits on SIGTERM/SIGINT.
import * as uWS from 'uws-pack'
import { openHandlers } from './open-handlers.js'

const port = Number(process.argv[2] || process.env.PORT || 0)
const mode = process.argv[3] || process.env.MODE || 'echo'
const MAX_PAYLOAD = 16 * 1024 * 1024
const MAX_BACKPRESSURE = 64 * 1024 * 1024

const app = uWS.App()
if (mode === 'echo' || mode === 'echo-open' || mode === 'echo-track') {
  app.ws('/*', {
    maxPayloadLength: MAX_PAYLOAD,
    idleTimeout: 0,
    ...openHandlers(mode),
    message: (ws, msg, isBinary) => {
      ws.send(msg, isBinary)
    },
  })
} else if (mode === 'fanout') {
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
      ws.subscribe('t')
    },
  })
} else {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}

app.listen(port, (token) => {
  if (!token) {
    console.error(`uws: cannot listen on port ${port}`)
    process.exit(1)
  }
  console.log(`READY ${uWS.us_socket_local_port(token)} maxBackpressure=${mode === 'fanout' ? MAX_BACKPRESSURE : 'default'}`)
})

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
