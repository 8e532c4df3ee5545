'use strict'
// Echo server over TLS: wss://localhost:9443.
// Run: node examples/tls-echo.js
//   KEY=key.pem CERT=cert.pem [PASSPHRASE=...] node examples/tls-echo.js   with your certificate;
//   without KEY/CERT a self-signed certificate for localhost is made with the openssl CLI in a
//   temporary directory, and the command to connect with it is printed.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const rsws = require('..')

const port = Number(process.env.PORT) || 9443

function selfSigned() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-tls-echo-'))
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    console.error('rsws: no KEY/CERT given and the openssl CLI could not make a certificate:', err.message)
    process.exit(1)
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return { key, cert }
}

const given = process.env.KEY && process.env.CERT
const { key, cert } = given ? { key: process.env.KEY, cert: process.env.CERT } : selfSigned()

rsws
  .SSLApp({ key_file_name: key, cert_file_name: cert, passphrase: process.env.PASSPHRASE })
  .ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 60,
    message: (ws, message, isBinary) => ws.send(message, isBinary),
  })
  .listen(port, (token) => {
    if (!token) {
      console.error(`rsws: port ${port} is not available`)
      process.exitCode = 1
      return
    }
    console.log(`rsws TLS echo server listening on wss://localhost:${port}`)
    if (!given) {
      console.log(`self-signed certificate: ${cert}`)
      console.log(`try: NODE_EXTRA_CA_CERTS=${cert} npx wscat -c wss://localhost:${port}`)
    }
  })

// Ctrl-C or kill: leave through 'exit', so the temporary certificate is removed.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
