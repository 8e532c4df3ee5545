'use strict'
// Echo server: every message comes back with its text/binary flag.
// Run: npm start   (then connect to ws://localhost:9001)
const { App } = require('..')

const port = Number(process.env.PORT) || 9001

App()
  .ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 60,
    open: (ws) => ws.getUserData(),
    message: (ws, message, isBinary) => ws.send(message, isBinary),
  })
  .listen(port, (token) => {
    if (token) console.log(`rsws echo server listening on ws://localhost:${port}`)
    else {
      console.error(`rsws: port ${port} is not available`)
      process.exitCode = 1
    }
  })
