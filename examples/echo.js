'use strict'
// Echo server: every message comes back with its text/binary flag.
// Run: npm start   (then connect to ws://localhost:9001)
const rsws = require('..')

const port = Number(process.env.PORT) || 9001
// COMPRESSION=shared|dedicated turns permessage-deflate on (and compresses the echoes).
const compression = {
  shared: rsws.SHARED_COMPRESSOR | rsws.SHARED_DECOMPRESSOR,
  dedicated: rsws.DEDICATED_COMPRESSOR | rsws.DEDICATED_DECOMPRESSOR,
}[process.env.COMPRESSION || ''] || rsws.DISABLED

rsws
  .App()
  .ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    // Clients such as the Autobahn suite send many large messages without waiting for the
    // echoes: allow a deep queue rather than dropping echoes (the default is 64 KiB).
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 60,
    compression,
    message: (ws, message, isBinary) => ws.send(message, isBinary, compression !== rsws.DISABLED),
  })
  .listen(port, (token) => {
    if (token) console.log(`rsws echo server listening on ws://localhost:${port}`)
    else {
      console.error(`rsws: port ${port} is not available`)
      process.exitCode = 1
    }
  })
