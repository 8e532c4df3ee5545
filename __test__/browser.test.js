'use strict'
// A real browser as the client: headless Chromium loads a page from the App's own HTTP
// route, runs WebSocket round trips against it and reports what it saw over another
// WebSocket. Runs where Chromium is installed (CHROMIUM_PATH, or /usr/bin/chromium and
// the usual names); skipped elsewhere.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { App, SSLApp, SHARED_COMPRESSOR, DEDICATED_COMPRESSOR, us_socket_local_port } = require('..')
const { withTimeout, deferred, hasOpenssl, makeSelfSigned } = require('./helpers')

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  .filter(Boolean)
  .find((p) => fs.existsSync(p))
const T = { timeout: 60000, skip: !CHROMIUM && 'no Chromium (set CHROMIUM_PATH)' }

/** Serves `script` in a page at `/` and the given WebSocket routes, opens the page in
 * headless Chromium, and resolves with what the page sends to `/report` (JSON). With
 * `tls` (SSLApp options) the page and its sockets are https and wss. */
async function inChromium(t, script, routes, { tls, setup } = {}) {
  const report = deferred()
  const app = (tls ? SSLApp(tls) : App()).get('/', (res) => {
    res.writeHeader('Content-Type', 'text/html; charset=utf-8').end(
      `<!doctype html><meta charset="utf-8"><script>
const base = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host
const report = (value) => { const r = new WebSocket(base + '/report'); r.onopen = () => r.send(JSON.stringify(value)) }
const opened = (ws) => new Promise((resolve, reject) => { ws.onopen = () => resolve(ws); ws.onerror = () => reject(new Error('error event on ' + ws.url)) })
const closed = (ws) => new Promise((resolve) => { ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }) })
const next = (ws) => new Promise((resolve) => ws.addEventListener('message', (e) => resolve(e.data), { once: true }))
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i])
;(async () => { ${script} })().then(report, (e) => report({ error: String(e && e.stack || e) }))
</script>`,
    )
  })
  for (const [pattern, behavior] of Object.entries(routes)) app.ws(pattern, behavior)
  if (setup) setup(app)
  app.ws('/report', { message: (ws, message) => report.resolve(JSON.parse(Buffer.from(message).toString())) })
  let token
  app.listen('127.0.0.1', 0, (tk) => (token = tk))
  assert.ok(token, 'listen')
  t.after(() => app.close())
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-chromium-'))
  // Without the background-networking flags Chromium keeps trying to reach hosts, which a
  // closed network refuses.
  const chromium = spawn(
    CHROMIUM,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // The wss test's certificate is self-signed.
      ...(tls ? ['--ignore-certificate-errors'] : []),
      `--user-data-dir=${profile}`, `${tls ? 'https' : 'http'}://127.0.0.1:${us_socket_local_port(token)}/`,
    ],
    { stdio: 'ignore', detached: true },
  )
  const exited = new Promise((resolve) => chromium.once('exit', resolve).once('error', resolve))
  chromium.once('error', (e) => report.reject(new Error(`cannot start ${CHROMIUM}: ${e.message}`)))
  chromium.once('exit', (code, signal) => report.reject(new Error(`${CHROMIUM} exited (${signal || code}) before the page reported`)))
  t.after(async () => {
    if (chromium.exitCode === null && chromium.pid) {
      try {
        process.kill(-chromium.pid, 'SIGKILL') // its whole process group
      } catch {
        chromium.kill('SIGKILL')
      }
      await exited
    }
    fs.rmSync(profile, { recursive: true, force: true })
  })
  const result = await withTimeout(report.promise, 30000, 'the page to report')
  assert.equal(result.error, undefined, result.error)
  return result
}

const echo = (ws, message, isBinary) => ws.send(message, isBinary, true)

/** Accepts an upgrade as the client asked, with `userData`. */
const accept = (res, req, context, userData = {}) =>
  res.upgrade(userData, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
    req.getHeader('sec-websocket-extensions'), context)

test('Chromium: text, a 300 KB binary and a 70 KB text echo intact, with and without permessage-deflate; the subprotocol is agreed', T, async (t) => {
  const offered = []
  const upgrade = (res, req, context) => {
    offered.push(req.getHeader('sec-websocket-extensions'))
    accept(res, req, context)
  }
  const behavior = (compression) => ({ compression, maxPayloadLength: 1 << 20, upgrade, message: echo })
  const result = await inChromium(
    t,
    `const out = {}
    for (const route of ['/plain', '/shared', '/dedicated']) {
      const ws = await opened(new WebSocket(base + route, ['chat', 'other']))
      ws.binaryType = 'arraybuffer'
      const r = { protocol: ws.protocol, extensions: ws.extensions }
      ws.send('héllo ✓ 𝄞'); r.text = await next(ws)
      const big = new Uint8Array(300000); for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 255
      ws.send(big); const back = new Uint8Array(await next(ws))
      r.binary = sameBytes(back, big) ? 'intact' : 'differs (' + back.length + ' bytes)'
      const long = 'x'.repeat(70000) + '€'; ws.send(long); r.long = (await next(ws)) === long ? 'intact' : 'differs'
      ws.close(); r.close = await closed(ws)
      out[route] = r
    }
    return out`,
    { '/plain': behavior(undefined), '/shared': behavior(SHARED_COMPRESSOR), '/dedicated': behavior(DEDICATED_COMPRESSOR) },
  )
  assert.ok(offered.every((e) => e.includes('permessage-deflate')), `Chromium offers permessage-deflate: ${offered}`)
  for (const route of ['/plain', '/shared', '/dedicated']) {
    const r = result[route]
    assert.equal(r.protocol, 'chat', route)
    if (route === '/plain') assert.equal(r.extensions, '', route)
    else assert.match(r.extensions, /^permessage-deflate/, route)
    assert.equal(r.text, 'héllo ✓ 𝄞', route)
    assert.equal(r.binary, 'intact', route)
    assert.equal(r.long, 'intact', route)
    assert.deepEqual(r.close, { code: 1005, reason: '', wasClean: true }, route)
  }
})

test('Chromium: closing handshakes both ways carry their code and reason', T, async (t) => {
  const serverSaw = deferred()
  const result = await inChromium(
    t,
    `const a = await opened(new WebSocket(base + '/client-closes'))
    const aClosed = closed(a)
    a.close(4000, 'bye ✓')
    const b = await opened(new WebSocket(base + '/server-closes'))
    const bClosed = closed(b)
    b.send('end me')
    return { client: await aClosed, server: await bClosed }`,
    {
      '/client-closes': { close: (ws, code, reason) => serverSaw.resolve({ code, reason: Buffer.from(reason).toString() }) },
      '/server-closes': { message: (ws) => ws.end(4001, 'server bye ✓') },
    },
  )
  assert.deepEqual(await withTimeout(serverSaw.promise, 5000, 'close handler'), { code: 4000, reason: 'bye ✓' })
  assert.deepEqual(result.client, { code: 4000, reason: 'bye ✓', wasClean: true })
  assert.deepEqual(result.server, { code: 4001, reason: 'server bye ✓', wasClean: true })
})

test('Chromium: two sockets subscribed to a topic get what a third publishes', T, async (t) => {
  const result = await inChromium(
    t,
    `const url = base + '/room'
    const subs = [await opened(new WebSocket(url)), await opened(new WebSocket(url))]
    const got = subs.map((ws) => next(ws))
    subs.forEach((ws) => ws.send('subscribe'))
    // Each subscription is confirmed before the publish, so neither can miss it.
    const publisher = await opened(new WebSocket(url))
    const confirmations = await Promise.all(got)
    const delivered = subs.map((ws) => next(ws))
    publisher.send('publish:hello room')
    return { confirmations, delivered: await Promise.all(delivered) }`,
    {
      '/room': {
        message: (ws, message) => {
          const text = Buffer.from(message).toString()
          if (text === 'subscribe') {
            ws.subscribe('room')
            ws.send('subscribed', false)
          } else if (text.startsWith('publish:')) {
            ws.publish('room', text.slice('publish:'.length), false)
          }
        },
      },
    },
  )
  assert.deepEqual(result.confirmations, ['subscribed', 'subscribed'])
  assert.deepEqual(result.delivered, ['hello room', 'hello room'])
})

test('Chromium: a message over maxPayloadLength closes with 1009; idleTimeout drops an idle socket, automatic pings keep a live one', T, async (t) => {
  const result = await inChromium(
    t,
    `const big = await opened(new WebSocket(base + '/small'))
    const bigClosed = closed(big)
    big.send('y'.repeat(2000))
    const start = performance.now()
    const idle = closed(await opened(new WebSocket(base + '/idle')))
    const live = await opened(new WebSocket(base + '/pinged'))
    const liveClosed = closed(live)
    const idleClose = await idle
    idleClose.after = performance.now() - start
    // Two more idle timeouts: without the pongs to its pings it would be gone by now.
    await new Promise((resolve) => setTimeout(resolve, 4000))
    const liveOpen = live.readyState === WebSocket.OPEN
    live.close(4002)
    return { tooBig: await bigClosed, idle: idleClose, liveOpen, live: await liveClosed }`,
    {
      '/small': { maxPayloadLength: 1000 },
      '/idle': { idleTimeout: 2, sendPingsAutomatically: false },
      '/pinged': { idleTimeout: 2 },
    },
  )
  assert.deepEqual(result.tooBig, { code: 1009, reason: 'message too big', wasClean: true })
  // As uWS.js: the timed-out socket is closed without a closing handshake.
  assert.equal(result.idle.code, 1006)
  assert.ok(result.idle.after > 1500 && result.idle.after < 4000, `idle close after ${result.idle.after} ms`)
  assert.equal(result.liveOpen, true)
  assert.deepEqual(result.live, { code: 4002, reason: '', wasClean: true })
})

test('Chromium: 20 MB pushed under backpressure arrive whole and in order, resumed by drain', T, async (t) => {
  const COUNT = 1000
  const SIZE = 20000
  let drains = 0
  let backpressured = 0
  const pump = (ws) => {
    const data = ws.getUserData()
    while (data.sent < COUNT) {
      const message = Buffer.alloc(SIZE, data.sent & 255)
      message.writeUInt32BE(data.sent, 0)
      data.sent++
      if (ws.send(message, true) === 0) {
        backpressured++
        return
      }
    }
  }
  const result = await inChromium(
    t,
    `const ws = await opened(new WebSocket(base + '/push'))
    ws.binaryType = 'arraybuffer'
    let count = 0, outOfOrder = 0, wrongSize = 0
    await new Promise((resolve) => {
      ws.onmessage = (e) => {
        if (new DataView(e.data).getUint32(0) !== count) outOfOrder++
        if (e.data.byteLength !== ${SIZE}) wrongSize++
        if (++count === ${COUNT}) resolve()
      }
    })
    ws.close()
    return { count, outOfOrder, wrongSize }`,
    {
      '/push': {
        maxBackpressure: 256 * 1024,
        upgrade: (res, req, context) => accept(res, req, context, { sent: 0 }),
        open: pump,
        drain: (ws) => {
          drains++
          pump(ws)
        },
      },
    },
  )
  assert.deepEqual(result, { count: COUNT, outOfOrder: 0, wrongSize: 0 })
  assert.ok(backpressured > 0 && drains > 0, `backpressure engaged (${backpressured} sends over it, ${drains} drains)`)
})

test('Chromium fetch(): a 1 MB POST body, eight parallel POSTs, a 5 MB answer, 404 from a catch-all route', T, async (t) => {
  const result = await inChromium(
    t,
    `const body = 'z'.repeat(1000000) + 'é'
    const posted = await fetch('/api?x=0', { method: 'POST', headers: { 'x-test': 'yes' }, body })
    const post = { status: posted.status, type: posted.headers.get('content-type'), json: await posted.json() }
    const parallel = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) =>
      fetch('/api?x=' + i, { method: 'POST', body: 'n' + i }).then((r) => r.json()).then((j) => j.query + ':' + j.text)))
    const big = (await (await fetch('/big')).text()).length
    const missing = await fetch('/missing')
    return { post, parallel, big, missing: { status: missing.status, text: await missing.text() } }`,
    {},
    {
      setup: (app) =>
        app
          .post('/api', (res, req) => {
            const query = req.getQuery()
            const header = req.getHeader('x-test')
            const chunks = []
            res.onAborted(() => {})
            res.onData((chunk, last) => {
              chunks.push(Buffer.from(chunk))
              if (!last) return
              const text = Buffer.concat(chunks).toString()
              res.cork(() => {
                res.writeStatus('201 Created').writeHeader('Content-Type', 'application/json')
                res.end(JSON.stringify({ query, header, length: text.length, tail: text.slice(-1), text: text.length < 10 ? text : '' }))
              })
            })
          })
          .get('/big', (res) => res.end('b'.repeat(5000000)))
          .any('/*', (res) => res.writeStatus('404 Not Found').end('no such page')),
    },
  )
  assert.deepEqual(result.post, {
    status: 201,
    type: 'application/json',
    json: { query: 'x=0', header: 'yes', length: 1000001, tail: 'é', text: '' },
  })
  assert.deepEqual(result.parallel, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `x=${i}:n${i}`))
  assert.equal(result.big, 5000000)
  assert.deepEqual(result.missing, { status: 404, text: 'no such page' })
})

test('Chromium over TLS: SSLApp serves the page over https and echoes over wss', { ...T, skip: T.skip || (!hasOpenssl && 'no openssl CLI (makes the certificate)') }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-chromium-tls-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const { key, cert } = makeSelfSigned(dir, 'localhost')
  const result = await inChromium(
    t,
    `const ws = await opened(new WebSocket(base + '/echo'))
    ws.binaryType = 'arraybuffer'
    ws.send('über TLS'); const text = await next(ws)
    const big = new Uint8Array(100000).map((_, i) => i & 255)
    ws.send(big); const back = new Uint8Array(await next(ws))
    ws.close(4003, 'done'); const close = await closed(ws)
    return { url: ws.url, text, binary: sameBytes(back, big), close }`,
    { '/echo': { maxPayloadLength: 1 << 20, message: echo } },
    { tls: { key_file_name: key, cert_file_name: cert } },
  )
  assert.match(result.url, /^wss:\/\//)
  assert.equal(result.text, 'über TLS')
  assert.equal(result.binary, true)
  assert.deepEqual(result.close, { code: 4003, reason: 'done', wasClean: true })
})
