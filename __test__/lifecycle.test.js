'use strict'
// App lifecycle: close(), shutdown(), listen_unix, maxLifetime, and clean process exit.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { execFile } = require('node:child_process')
const {
  REPO,
  rsws,
  startServer,
  openClient,
  waitClose,
  withTimeout,
  sleep,
  rawUpgrade,
  deferred,
  WS,
} = require('./helpers')

const T = { timeout: 20000 }

function refusedConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', () => resolve(true))
  })
}

test('app.close(): stops listening, drops every socket, close handlers run before it returns', T, async () => {
  const closes = []
  const s = startServer({ '/*': { close: (ws, code) => closes.push(code) } })
  const a = await openClient(s.url())
  const b = await openClient(s.url())
  await sleep(50)
  const returned = s.app.close()
  assert.equal(returned, s.app)
  assert.deepEqual(closes, [1006, 1006])
  const [ca, cb] = await Promise.all([waitClose(a), waitClose(b)])
  assert.equal(ca.code, 1006)
  assert.equal(cb.code, 1006)
  assert.equal(await refusedConnect(s.port), true)
  assert.equal(rsws.us_socket_local_port(s.token), -1)
})

test('app.shutdown(): ends every socket with the code and reason, resolves with counts', T, async () => {
  const closes = []
  const s = startServer({ '/*': { close: (ws, code, reason) => closes.push([code, Buffer.from(reason).toString()]) } })
  const a = await openClient(s.url())
  const b = await openClient(s.url())
  await sleep(50)
  const waits = [waitClose(a), waitClose(b)]
  const result = await withTimeout(s.app.shutdown({ code: 1001, reason: 'restarting', timeoutMs: 5000 }), 8000, 'shutdown')
  assert.deepEqual(result, { sockets: 2, graceful: 2, forced: 0 })
  assert.deepEqual(closes, [
    [1001, 'restarting'],
    [1001, 'restarting'],
  ])
  for (const c of await Promise.all(waits)) assert.deepEqual(c, { code: 1001, reason: 'restarting' })
  assert.equal(await refusedConnect(s.port), true)
})

test('app.shutdown(): a peer that never answers the close is dropped at timeoutMs', T, async () => {
  const s = startServer({ '/*': {} })
  const raw = await rawUpgrade(s.port)
  const ok = await openClient(s.url())
  await sleep(50)
  try {
    const started = Date.now()
    const result = await withTimeout(s.app.shutdown({ timeoutMs: 300 }), 5000, 'shutdown')
    assert.deepEqual(result, { sockets: 2, graceful: 1, forced: 1 })
    assert.ok(Date.now() - started < 3000, 'resolved soon after the timeout')
  } finally {
    raw.destroy()
    ok.terminate()
  }
})

test('app.shutdown() with no sockets resolves at once; bad options throw', T, async () => {
  const s = startServer({ '/*': {} })
  assert.throws(() => s.app.shutdown({ code: 999 }), RangeError)
  assert.deepEqual(await s.app.shutdown(), { sockets: 0, graceful: 0, forced: 0 })
})

test('listen_unix(cb, path): echo over a Unix socket, no IP address, path removed on close', T, async () => {
  const file = path.join(os.tmpdir(), `rsws-${process.pid}-${Date.now()}.sock`)
  let address
  const app = rsws.App().ws('/*', {
    open: (ws) => (address = [ws.getRemoteAddress().byteLength, Buffer.from(ws.getRemoteAddressAsText()).toString()]),
    message: (ws, m, isBinary) => ws.send(m, isBinary),
  })
  let token
  app.listen_unix((t) => (token = t), file)
  assert.ok(token, 'listening')
  assert.ok(fs.existsSync(file))
  const c = new WS(`ws+unix://${file}:/chat`)
  try {
    await withTimeout(new Promise((r, j) => (c.once('open', r), c.once('error', j))), 5000, 'open')
    const echoed = new Promise((r) => c.once('message', (d) => r(d.toString())))
    c.send('over unix')
    assert.equal(await withTimeout(echoed, 5000, 'echo'), 'over unix')
    assert.deepEqual(address, [0, ''])
  } finally {
    c.terminate()
    rsws.us_listen_socket_close(token)
  }
  assert.equal(fs.existsSync(file), false)
  let second
  app.listen_unix((t) => (second = t), path.join(os.tmpdir(), 'no-such-dir-rsws', 'x.sock'))
  assert.equal(second, false)
})

test('maxLifetime (minutes, fractions accepted) closes the socket with 1006', T, async () => {
  const serverClose = deferred()
  const s = startServer({ '/*': { maxLifetime: 0.02, idleTimeout: 0, close: (ws, code) => serverClose.resolve(code) } })
  const c = await openClient(s.url())
  try {
    const started = Date.now()
    const closed = await waitClose(c, 8000)
    const took = Date.now() - started
    assert.equal(closed.code, 1006)
    assert.equal(await withTimeout(serverClose.promise, 5000, 'server close'), 1006)
    assert.ok(took > 800 && took < 4000, `closed after ${took} ms`)
  } finally {
    s.close()
  }
})

/** Runs a script in a child process; resolves with its exit code and how long it took. */
function runScript(source, ms = 10000) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = execFile(process.execPath, ['-e', source], { cwd: REPO, timeout: ms }, (err, stdout, stderr) => {
      if (err && err.killed) return reject(new Error(`script did not exit within ${ms} ms: ${stderr}`))
      resolve({ code: err ? err.code : 0, ms: Date.now() - started, stdout, stderr })
    })
    child.stdin.end()
  })
}

const CLIENT = `
const { App, us_listen_socket_close, us_socket_local_port } = require('.')
const WS = require('ws')
function serve(cb) {
  let token
  const app = App().ws('/*', { message: (ws, m) => ws.send(m) }).listen('127.0.0.1', 0, (t) => (token = t))
  const c = new WS('ws://127.0.0.1:' + us_socket_local_port(token))
  c.on('open', () => c.send('x'))
  c.on('message', () => cb(app, token, c))
}
`

test('process exits by itself after app.close()', T, async () => {
  const r = await runScript(`${CLIENT} serve((app) => { app.close(); console.log('closed') })`)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /closed/)
})

test('process exits by itself after shutdown() resolves', T, async () => {
  const r = await runScript(`${CLIENT} serve((app) => app.shutdown({ code: 1001 }).then((x) => console.log(JSON.stringify(x))))`)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /"graceful":1/)
})

test('process exits once the listen socket and the last connection are closed (app never closed)', T, async () => {
  const r = await runScript(`${CLIENT} serve((app, token, c) => { us_listen_socket_close(token); c.close() })`)
  assert.equal(r.code, 0, r.stderr)
})

test('an app that never listened does not keep the process alive', T, async () => {
  const r = await runScript(`require('.').App().ws('/*', {}); console.log('done')`)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.ms < 5000)
})
