'use strict'
// SSLApp: WebSockets over TLS (wss://), SNI, the missing-server-name callback, certificate
// loading errors and reload. Certificates are made at test time with the openssl CLI.
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const tls = require('node:tls')
const { rsws, WS, withTimeout, sleep, collect, waitClose, deferred, hasOpenssl, makeSelfSigned } = require('./helpers')
const { SSLApp, App, us_listen_socket_close, us_socket_local_port } = rsws

const T = { timeout: 30000, skip: hasOpenssl ? false : 'the openssl CLI is not installed (needed to make test certificates)' }

let dir
/** name -> { key, cert, keyPem, certPem } (paths and contents) */
const certs = {}

function openssl(...args) {
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
}

/** A self-signed P-256 certificate for `cn` (also its subjectAltName). */
function makeCert(cn) {
  const { key, cert } = makeSelfSigned(dir, cn)
  certs[cn] = { key, cert, keyPem: fs.readFileSync(key, 'utf8'), certPem: fs.readFileSync(cert, 'utf8') }
}

before(() => {
  if (!hasOpenssl) return
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-tls-'))
  makeCert('localhost')
  makeCert('other.test')
  makeCert('renewed.test')
  // The localhost key, encrypted (PKCS#8, PBES2) with a passphrase.
  certs.encryptedKey = path.join(dir, 'localhost.enc.key')
  openssl('pkcs8', '-topk8', '-in', certs.localhost.key, '-out', certs.encryptedKey, '-passout', 'pass:s3cret')
})

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const files = (name) => ({ key_file_name: certs[name].key, cert_file_name: certs[name].cert })

/** An SSLApp with `routes` listening on port 0: { app, port, url(path), close() }. */
function startTls(options, routes) {
  const app = SSLApp(options)
  for (const [pattern, behavior] of Object.entries(routes)) app.ws(pattern, behavior)
  let token
  app.listen(0, (t) => {
    token = t
  })
  if (!token) throw new Error('listen failed')
  const port = us_socket_local_port(token)
  return {
    app,
    port,
    url: (p = '/') => `wss://localhost:${port}${p}`,
    close: () => us_listen_socket_close(token),
  }
}

/** A `ws` client trusting the localhost certificate; resolves once open. */
function openWss(url, options = {}) {
  const ws = new WS(url, { ca: certs.localhost.certPem, ...options })
  const p = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
  return withTimeout(p, 5000, `open ${url}`).catch((err) => {
    ws.terminate()
    throw err
  })
}

/** A bare TLS handshake with `servername`; resolves with the served certificate's CN and
 * the negotiated ALPN protocol. */
function handshake(port, servername, extra = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...extra }, () => {
        const cn = socket.getPeerCertificate().subject.CN
        const alpn = socket.alpnProtocol
        socket.destroy()
        resolve({ cn, alpn })
      })
      socket.once('error', reject)
    }),
    5000,
    `TLS handshake for ${servername}`,
  )
}

const echo = {
  maxPayloadLength: 4 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  message: (ws, message, isBinary) => ws.send(message, isBinary),
}

test('wss:// echo: text, binary and a 1 MiB message', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  const c = await openWss(s.url('/echo'))
  try {
    const big = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff
    const got = collect(c, 3, 15000)
    c.send('hello over TLS')
    c.send(Buffer.from([1, 2, 3, 250]))
    c.send(big)
    const [text, bin, large] = await got
    assert.equal(text.isBinary, false)
    assert.equal(text.data.toString(), 'hello over TLS')
    assert.equal(bin.isBinary, true)
    assert.deepEqual([...bin.data], [1, 2, 3, 250])
    assert.equal(large.data.length, big.length)
    assert.ok(large.data.equals(big), '1 MiB message echoed intact')
  } finally {
    c.terminate()
    s.close()
  }
})

test('many messages both ways in a burst arrive in order', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  const c = await openWss(s.url())
  try {
    const n = 2000
    const got = collect(c, n, 20000)
    for (let i = 0; i < n; i++) c.send(`m${i}:${'x'.repeat(i % 300)}`)
    const msgs = await got
    msgs.forEach((m, i) => assert.equal(m.data.toString(), `m${i}:${'x'.repeat(i % 300)}`))
  } finally {
    c.terminate()
    s.close()
  }
})

test('backpressure over TLS: send returns 0 while the client does not read, then drain fires', T, async () => {
  const result = deferred()
  const drained = deferred()
  const chunk = Buffer.alloc(64 * 1024, 7)
  let server
  const s = startTls(files('localhost'), {
    '/*': {
      maxBackpressure: 64 * 1024 * 1024,
      open(ws) {
        server = ws
      },
      message(ws) {
        // Send until the kernel buffers and rustls' one record are full.
        const statuses = []
        for (let i = 0; i < 512; i++) {
          const status = ws.send(chunk, true)
          statuses.push(status)
          if (status === 0) break
        }
        result.resolve({ statuses, buffered: ws.getBufferedAmount() })
      },
      drain(ws) {
        if (ws.getBufferedAmount() === 0) drained.resolve()
      },
    },
  })
  const c = await openWss(s.url())
  try {
    c._socket.pause()
    let received = 0
    c.on('message', (d) => {
      received += d.length
    })
    c.send('go')
    const { statuses, buffered } = await withTimeout(result.promise, 5000, 'sends')
    const sent = statuses.length
    assert.equal(statuses[sent - 1], 0, `a send reported backpressure (statuses: ${statuses})`)
    assert.ok(statuses.slice(0, -1).every((st) => st === 1), 'earlier sends went out')
    assert.ok(buffered > 0, `getBufferedAmount ${buffered}`)
    assert.equal(server.send(Buffer.alloc(10), true), 0, 'more sends are buffered while the client is paused')
    c._socket.resume()
    await withTimeout(drained.promise, 10000, 'drain')
    await withTimeout(
      (async () => {
        while (received < sent * chunk.length + 10) await sleep(10)
      })(),
      10000,
      () => `every byte (got ${received} of ${sent * chunk.length + 10})`,
    )
  } finally {
    c.terminate()
    s.close()
  }
})

test('SNI: addServerName serves its certificate; removeServerName falls back to the default', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  try {
    s.app.addServerName('other.test', files('other.test'))
    assert.equal((await handshake(s.port, 'other.test')).cn, 'other.test')
    assert.equal((await handshake(s.port, 'localhost')).cn, 'localhost')
    assert.equal((await handshake(s.port, 'unknown.test')).cn, 'localhost')
    // End to end: a wss client that checks the certificate against the name it asked for.
    const c = await openWss(`wss://127.0.0.1:${s.port}/`, { servername: 'other.test', ca: certs['other.test'].certPem })
    try {
      assert.equal(c._socket.getPeerCertificate().subject.CN, 'other.test')
      const got = collect(c, 1)
      c.send('sni')
      assert.equal((await got)[0].data.toString(), 'sni')
    } finally {
      c.terminate()
    }
    s.app.removeServerName('other.test')
    assert.equal((await handshake(s.port, 'other.test')).cn, 'localhost')
  } finally {
    s.close()
  }
})

test('missingServerName: a certificate added by the callback serves that same connection', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  const asked = []
  s.app.missingServerName((hostname) => {
    asked.push(hostname)
    if (hostname === 'other.test') s.app.addServerName(hostname, files('other.test'))
  })
  try {
    assert.equal((await handshake(s.port, 'other.test')).cn, 'other.test')
    assert.deepEqual(asked, ['other.test'])
    // Known now: no second call.
    assert.equal((await handshake(s.port, 'other.test')).cn, 'other.test')
    assert.deepEqual(asked, ['other.test'])
    // A name the callback does not add gets the default certificate.
    assert.equal((await handshake(s.port, 'nobody.test')).cn, 'localhost')
    assert.deepEqual(asked, ['other.test', 'nobody.test'])
  } finally {
    s.close()
  }
})

test('a missingServerName callback that throws is reported and the handshake goes on', T, async () => {
  // In a child process: the test runner turns uncaught exceptions into failures.
  const script = `
    const tls = require('node:tls')
    const { SSLApp, us_socket_local_port } = require(${JSON.stringify(require.resolve('..'))})
    const app = SSLApp(${JSON.stringify(files('localhost'))})
    app.ws('/*', {})
    const out = { uncaught: null, cn: null }
    process.on('uncaughtException', (err) => { out.uncaught = err.message })
    app.missingServerName(() => { throw new Error('callback failed') })
    app.listen('127.0.0.1', 0, (token) => {
      const port = us_socket_local_port(token)
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'x.test', rejectUnauthorized: false }, () => {
        out.cn = socket.getPeerCertificate().subject.CN
        socket.destroy()
        setTimeout(() => { console.log(JSON.stringify(out)); process.exit(0) }, 50)
      })
    })
    setTimeout(() => { console.log(JSON.stringify(out)); process.exit(1) }, 5000)
  `
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 })
  assert.equal(r.status, 0, `child: ${r.stdout} ${r.stderr}`)
  assert.deepEqual(JSON.parse(r.stdout), { uncaught: 'callback failed', cn: 'localhost' })
})

test('reloadCertificate: new connections get the new certificate, open ones keep working', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  const c = await openWss(s.url())
  try {
    s.app.reloadCertificate(files('renewed.test'))
    assert.equal((await handshake(s.port, 'localhost')).cn, 'renewed.test')
    const got = collect(c, 1)
    c.send('still here')
    assert.equal((await got)[0].data.toString(), 'still here')
    // A reload that fails changes nothing.
    assert.throws(() => s.app.reloadCertificate({ key_file_name: path.join(dir, 'missing.key'), cert_file_name: certs.localhost.cert }), /missing\.key/)
    assert.equal((await handshake(s.port, 'localhost')).cn, 'renewed.test')
  } finally {
    c.terminate()
    s.close()
  }
})

test('certificate errors throw at SSLApp() and addServerName(), naming the file and reason', T, () => {
  const missing = path.join(dir, 'no-such-key.pem')
  assert.throws(
    () => SSLApp({ key_file_name: missing, cert_file_name: certs.localhost.cert }),
    (err) => err instanceof Error && err.message.includes(missing) && /key_file_name/.test(err.message) && /No such file/i.test(err.message),
  )
  // A certificate file given as the key.
  assert.throws(
    () => SSLApp({ key_file_name: certs.localhost.cert, cert_file_name: certs.localhost.cert }),
    (err) => err.message.includes(certs.localhost.cert) && /no private key/.test(err.message),
  )
  // Key and certificate that do not belong together.
  assert.throws(() => SSLApp({ key_file_name: certs['other.test'].key, cert_file_name: certs.localhost.cert }), /does not match/)
  const app = SSLApp(files('localhost'))
  assert.throws(() => app.addServerName('other.test', { key_file_name: missing, cert_file_name: certs['other.test'].cert }), /no-such-key\.pem/)
  assert.throws(() => SSLApp({ key: 42 }), TypeError)
})

test('in-memory PEM (key, cert as string and Buffer)', T, async () => {
  const s = startTls({ key: certs.localhost.keyPem, cert: Buffer.from(certs.localhost.certPem) }, { '/*': echo })
  const c = await openWss(s.url())
  try {
    const got = collect(c, 1)
    c.send('in memory')
    assert.equal((await got)[0].data.toString(), 'in memory')
  } finally {
    c.terminate()
    s.close()
  }
})

test('an encrypted key with its passphrase works; a wrong or missing passphrase throws', T, async () => {
  const options = { key_file_name: certs.encryptedKey, cert_file_name: certs.localhost.cert }
  assert.throws(() => SSLApp({ ...options, passphrase: 'wrong' }), (err) => err.message.includes(certs.encryptedKey) && /wrong passphrase/.test(err.message))
  assert.throws(() => SSLApp(options), /encrypted but no passphrase/)
  const s = startTls({ ...options, passphrase: 's3cret' }, { '/*': echo })
  const c = await openWss(s.url())
  try {
    const got = collect(c, 1)
    c.send('decrypted')
    assert.equal((await got)[0].data.toString(), 'decrypted')
  } finally {
    c.terminate()
    s.close()
  }
})

/** A CA ("<name>-ca") and a client certificate "<name>-client" it signed (paths). */
function makeClientCa(name) {
  const ca = { key: path.join(dir, `${name}-ca.key`), cert: path.join(dir, `${name}-ca.crt`) }
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', ca.key, '-out', ca.cert,
    '-days', '2', '-subj', `/CN=${name} CA`)
  const key = path.join(dir, `${name}-client.key`)
  const csr = path.join(dir, `${name}-client.csr`)
  const cert = path.join(dir, `${name}-client.crt`)
  const ext = path.join(dir, `${name}-client.ext`)
  fs.writeFileSync(ext, 'extendedKeyUsage=clientAuth\n')
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name} client`)
  openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext)
  return { ca: ca.cert, client: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) } }
}

test('ca_file_name: a client certificate is checked when given; ssl_ciphers picks the suite', T, async () => {
  const trusted = makeClientCa('trusted')
  const stranger = makeClientCa('stranger')
  const s = startTls({ ...files('localhost'), ca_file_name: trusted.ca }, { '/*': echo })
  try {
    // As uWS.js (SSL_VERIFY_PEER only): without a certificate the client is let in.
    for (const options of [{}, trusted.client]) {
      const c = await openWss(s.url(), options)
      const got = collect(c, 1)
      c.send('checked')
      assert.equal((await got)[0].data.toString(), 'checked')
      c.terminate()
    }
    await assert.rejects(openWss(s.url(), stranger.client), /unknown ca|ECONNRESET|socket hang up/i)
  } finally {
    s.close()
  }
  const t = startTls({ ...files('localhost'), ssl_ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }, { '/*': echo })
  try {
    const c = await openWss(t.url(), { maxVersion: 'TLSv1.2' })
    assert.equal(c._socket.getCipher().name, 'ECDHE-ECDSA-CHACHA20-POLY1305')
    c.terminate()
  } finally {
    t.close()
  }
  assert.throws(() => SSLApp({ ...files('localhost'), ssl_ciphers: 'NO-SUCH-CIPHER' }), /ssl_ciphers.*NO-SUCH-CIPHER/)
  assert.throws(() => SSLApp({ ...files('localhost'), ca_file_name: path.join(dir, 'no-ca.pem') }), /ca_file_name.*no-ca\.pem/)
})

test('over TLS: remote address, ALPN http/1.1, upgrade handler with user data', T, async () => {
  const opened = deferred()
  const s = startTls(files('localhost'), {
    '/*': {
      upgrade(res, req, context) {
        res.upgrade({ path: req.getUrl() }, req.getHeader('sec-websocket-key'), '', '', context)
      },
      open(ws) {
        opened.resolve({
          address: Buffer.from(ws.getRemoteAddressAsText()).toString(),
          port: ws.getRemotePort(),
          data: { ...ws.getUserData() },
        })
      },
    },
  })
  const c = await openWss(s.url('/room'))
  try {
    const info = await withTimeout(opened.promise, 5000, 'open')
    assert.equal(info.address, '127.0.0.1')
    assert.equal(info.port, c._socket.localPort)
    assert.deepEqual(info.data, { path: '/room' })
    assert.equal((await handshake(s.port, 'localhost', { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1')
    assert.equal((await handshake(s.port, 'localhost')).alpn, false)
  } finally {
    c.terminate()
    s.close()
  }
})

test('closing handshake over TLS: server end() and client close() codes arrive', T, async () => {
  const serverClose = deferred()
  const s = startTls(files('localhost'), {
    '/*': {
      message(ws, message) {
        if (Buffer.from(message).toString() === 'end') ws.end(4001, 'bye')
      },
      close: (ws, code, reason) => serverClose.resolve({ code, reason: Buffer.from(reason).toString() }),
    },
  })
  try {
    const a = await openWss(s.url())
    a.send('end')
    assert.deepEqual(await waitClose(a), { code: 4001, reason: 'bye' })
    assert.deepEqual(await withTimeout(serverClose.promise, 5000, 'server close'), { code: 4001, reason: 'bye' })

    const closed = deferred()
    const s2 = startTls(files('localhost'), {
      '/*': { close: (ws, code, reason) => closed.resolve({ code, reason: Buffer.from(reason).toString() }) },
    })
    try {
      const b = await openWss(s2.url())
      b.close(4002, 'client leaves')
      assert.deepEqual(await waitClose(b), { code: 4002, reason: 'client leaves' })
      assert.deepEqual(await withTimeout(closed.promise, 5000, 'server close'), { code: 4002, reason: 'client leaves' })
    } finally {
      s2.close()
    }
  } finally {
    s.close()
  }
})

test('a plain ws:// client or a failed handshake does not disturb the server', T, async () => {
  const s = startTls(files('localhost'), { '/*': echo })
  try {
    // Plain HTTP to a TLS port: refused by the handshake, nothing reaches JS.
    const plain = new WS(`ws://127.0.0.1:${s.port}/`)
    await withTimeout(new Promise((resolve) => plain.once('error', resolve).once('close', resolve)), 5000, 'plain client failure')
    plain.terminate()
    // A client that does not trust the certificate.
    await assert.rejects(openWss(s.url(), { ca: certs['other.test'].certPem }))
    const c = await openWss(s.url())
    const got = collect(c, 1)
    c.send('fine')
    assert.equal((await got)[0].data.toString(), 'fine')
    c.terminate()
  } finally {
    s.close()
  }
})

test('SSLApp.listen_unix speaks TLS on the Unix socket', { ...T, skip: T.skip || (process.platform === 'win32' && 'no Unix sockets') }, async () => {
  const app = SSLApp(files('localhost'))
  app.ws('/*', echo)
  const sock = path.join(dir, 'tls.sock')
  let token
  app.listen_unix((t) => {
    token = t
  }, sock)
  assert.ok(token, 'listen_unix')
  try {
    const c = await openWss('wss://localhost/unix', {
      createConnection: (options) => tls.connect({ ...options, path: sock, servername: 'localhost' }),
    })
    const got = collect(c, 1)
    c.send('over a Unix socket')
    assert.equal((await got)[0].data.toString(), 'over a Unix socket')
    assert.equal(c._socket.getPeerCertificate().subject.CN, 'localhost')
    c.terminate()
  } finally {
    us_listen_socket_close(token)
  }
})

test('plain App: the server-name methods do nothing; reloadCertificate throws', T, () => {
  const app = App()
  assert.equal(app.addServerName('x.test', {}), app)
  assert.equal(app.removeServerName('x.test'), app)
  assert.equal(
    app.missingServerName(() => {}),
    app,
  )
  assert.throws(() => app.reloadCertificate({}), /SSLApp/)
})

test('HTTPS: routes over SSLApp with keep-alive, a 1 MiB upload and a wss socket on the same port', T, async () => {
  const https = require('node:https')
  const app = SSLApp(files('localhost'))
  app.get('/hello/:name', (res, req) => res.writeHeader('X-Route', 'hello').end(`hi ${req.getParameter('name')}`))
  app.post('/upload', (res) => {
    let n = 0
    res.onAborted(() => {})
    res.onData((chunk, isLast) => {
      n += chunk.byteLength
      if (isLast) res.end(String(n))
    })
  })
  app.ws('/ws', { message: (ws, m, isBinary) => ws.send(m, isBinary) })
  let token
  app.listen(0, (t) => (token = t))
  const port = us_socket_local_port(token)
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.localhost.certPem })
  const request = (method, p, body) =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: 'localhost', port, path: p, method, agent }, (res) => {
        const parts = []
        res.on('data', (c) => parts.push(c))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString(), socket: res.socket }))
      })
      req.on('error', reject)
      req.end(body)
    })
  try {
    const a = await withTimeout(request('GET', '/hello/tls'), 5000, 'GET')
    assert.equal(a.status, 200)
    assert.equal(a.headers['x-route'], 'hello')
    assert.equal(a.body, 'hi tls')
    const b = await withTimeout(request('POST', '/upload', Buffer.alloc(1 << 20, 7)), 10000, 'POST')
    assert.equal(b.body, String(1 << 20))
    assert.equal(b.socket, a.socket, 'the keep-alive TLS connection was reused')
    const c = await withTimeout(request('GET', '/nothing'), 5000, 'GET 404')
    assert.equal(c.status, 404)
    const ws = await openWss(`wss://localhost:${port}/ws`)
    ws.send('over tls')
    const [m] = await withTimeout(collect(ws, 1), 5000, 'echo')
    assert.equal(m.data.toString(), 'over tls')
    ws.close()
  } finally {
    agent.destroy()
    us_listen_socket_close(token)
  }
})

test('an SSLApp whose missingServerName callback refers to the app is collected once closed', T, async () => {
  const v8 = require('node:v8')
  const vm = require('node:vm')
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')
  const collected = new Set()
  const registry = new FinalizationRegistry((name) => collected.add(name))
  for (const withCallback of [false, true]) {
    ;(() => {
      const app = SSLApp(files('localhost'))
      if (withCallback) app.missingServerName((hostname) => app.addServerName(hostname, files('other.test')))
      let token
      app.listen(0, (t) => (token = t))
      assert.ok(token)
      app.close()
      registry.register(app, withCallback ? 'with callback' : 'without')
    })()
  }
  for (let i = 0; i < 50 && collected.size < 2; i++) {
    await sleep(20)
    gc()
  }
  assert.deepEqual([...collected].sort(), ['with callback', 'without'])
})
