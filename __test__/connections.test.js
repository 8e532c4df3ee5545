'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { spawn } = require('node:child_process')
const {
  REPO,
  rsws,
  WS,
  startServer,
  openClient,
  collect,
  closeAll,
  withTimeout,
  sleep,
  deferred,
} = require('./helpers')

const { App, us_listen_socket_close, us_socket_local_port, LIBUS_LISTEN_EXCLUSIVE_PORT } = rsws
const T = { timeout: 15000 }

test('500 concurrent clients each echo a few messages; every open gets exactly one close', T, async () => {
  const N = 500
  const M = 3
  let opens = 0
  const allClosed = deferred()
  let closeTotal = 0
  const s = startServer({
    '/*': {
      open(ws) {
        opens++
        ws.getUserData().n = opens
      },
      message(ws, msg, isBinary) {
        ws.send(msg, isBinary)
      },
      close() {
        closeTotal++
        if (closeTotal === N) allClosed.resolve()
      },
    },
  })
  const clients = []
  try {
    const opened = await Promise.all(Array.from({ length: N }, () => openClient(s.url(), {}, 10000)))
    clients.push(...opened)
    assert.equal(opens, N)
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const got = collect(c, M, 10000)
        for (let j = 0; j < M; j++) c.send(`c${i}-m${j}`)
        const msgs = await got
        return msgs.map((m) => m.data.toString())
      }),
    )
    results.forEach((msgs, i) => {
      assert.deepEqual(msgs, Array.from({ length: M }, (_, j) => `c${i}-m${j}`))
    })
    for (const c of clients) c.close(1000)
    await withTimeout(allClosed.promise, 10000, `all ${N} close handlers (got ${closeTotal})`)
    await sleep(100)
    assert.equal(closeTotal, N, 'exactly one close per open')
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('close handler runs exactly once per socket (tracked per ws object)', T, async () => {
  const perSocket = new Map()
  let opens = 0
  const s = startServer({
    '/*': {
      open(ws) {
        opens++
        perSocket.set(ws, 0)
      },
      close(ws) {
        perSocket.set(ws, (perSocket.get(ws) ?? 0) + 1)
      },
    },
  })
  const clients = []
  try {
    for (let i = 0; i < 20; i++) clients.push(await openClient(s.url()))
    // Mix: half close normally, half vanish.
    clients.forEach((c, i) => (i % 2 ? c.close(1000) : c.terminate()))
    await withTimeout(
      (async () => {
        while ([...perSocket.values()].reduce((a, b) => a + b, 0) < 20) await sleep(20)
      })(),
      5000,
      'close handlers',
    )
    await sleep(200)
    assert.equal(opens, 20)
    assert.equal(perSocket.size, 20)
    for (const n of perSocket.values()) assert.equal(n, 1)
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('two routes with different handlers are chosen by path', T, async () => {
  const s = startServer([
    ['/a', { message: (ws) => ws.send('from a') }],
    ['/b', { message: (ws) => ws.send('from b') }],
  ])
  const ca = await openClient(s.url('/a'))
  const cb = await openClient(s.url('/b'))
  try {
    ca.send('x')
    cb.send('x')
    const [[ma], [mb]] = await Promise.all([collect(ca, 1), collect(cb, 1)])
    assert.equal(ma.data.toString(), 'from a')
    assert.equal(mb.data.toString(), 'from b')
  } finally {
    closeAll([ca, cb])
    s.close()
  }
})

test('route precedence: static beats :param beats wildcard, regardless of order', T, async () => {
  const hello = (name) => ({ open: (ws) => ws.send(name) })
  const s = startServer([
    ['/*', hello('wildcard')],
    ['/chat/:room', hello('param')],
    ['/chat/lobby', hello('static')],
  ])
  const cases = [
    ['/chat/lobby', 'static'],
    ['/chat/kitchen', 'param'],
    ['/elsewhere', 'wildcard'],
    ['/', 'wildcard'],
  ]
  const clients = []
  try {
    for (const [p, expected] of cases) {
      const c = new WS(s.url(p))
      clients.push(c)
      const [m] = await collect(c, 1, 5000)
      assert.equal(m.data.toString(), expected, `path ${p}`)
    }
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('query string does not affect routing', T, async () => {
  const s = startServer([['/chat/lobby', { open: (ws) => ws.send('static') }]])
  const c = new WS(s.url('/chat/lobby?x=1&y=2'))
  try {
    const [m] = await collect(c, 1, 5000)
    assert.equal(m.data.toString(), 'static')
  } finally {
    c.terminate()
    s.close()
  }
})

test('an unmatched path gets HTTP 404', T, async () => {
  const s = startServer([['/only', {}]])
  const c = new WS(s.url('/nope'))
  try {
    const status = await withTimeout(
      new Promise((resolve, reject) => {
        c.once('unexpected-response', (req, res) => {
          resolve(res.statusCode)
          req.destroy()
        })
        c.once('open', () => reject(new Error('unexpectedly opened')))
        c.once('error', () => {})
      }),
      5000,
      'unexpected-response',
    )
    assert.equal(status, 404)
  } finally {
    c.terminate()
    s.close()
  }
})

test('getRemoteAddressAsText / getRemoteAddress / getRemotePort describe the client', T, async () => {
  const info = deferred()
  const s = startServer({
    '/*': {
      open(ws) {
        try {
          info.resolve({
            text: Buffer.from(ws.getRemoteAddressAsText()).toString(),
            textIsAB: ws.getRemoteAddressAsText() instanceof ArrayBuffer,
            addr: [...new Uint8Array(ws.getRemoteAddress())],
            port: ws.getRemotePort(),
            userData: { ...ws.getUserData() },
          })
        } catch (err) {
          info.reject(err)
        }
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const got = await withTimeout(info.promise, 5000, 'open')
    assert.equal(got.textIsAB, true)
    assert.equal(got.text, '127.0.0.1')
    assert.deepEqual(got.addr, [127, 0, 0, 1])
    assert.equal(got.port, c._socket.localPort)
    assert.deepEqual(got.userData, {})
  } finally {
    c.terminate()
    s.close()
  }
})

test('every socket keeps its own peer port, also past the first ids and on a route without open', T, async () => {
  // The addresses live in a table indexed by socket id that JS views in growing
  // prefixes: sockets opened before and after a growth must all read their own entry.
  const N = 150
  const sockets = []
  const s = startServer({
    '/open': { open: (ws) => sockets.push(ws) },
    // No open handler: the OPEN is deferred until the first message.
    '/deferred': { message: (ws) => sockets.push(ws) },
  })
  const clients = []
  try {
    for (let i = 0; i < N; i++) clients.push(await openClient(s.url(i % 3 === 0 ? '/deferred' : '/open')))
    for (let i = 0; i < N; i += 3) clients[i].send('hi')
    await withTimeout(
      (async () => {
        while (sockets.length < N) await sleep(10)
      })(),
      5000,
      'all sockets reported',
    )
    const ports = sockets.map((ws) => ws.getRemotePort()).sort((a, b) => a - b)
    const expected = clients.map((c) => c._socket.localPort).sort((a, b) => a - b)
    assert.deepEqual(ports, expected)
    for (const ws of sockets) assert.equal(Buffer.from(ws.getRemoteAddressAsText()).toString(), '127.0.0.1')
  } finally {
    for (const c of clients) c.terminate()
    s.close()
  }
})

test('us_socket_local_port returns the bound port; listen on an explicit port works', T, async () => {
  // Find a free port, then ask rsws to listen on it explicitly.
  const probe = net.createServer()
  await new Promise((r) => probe.listen(0, '127.0.0.1', r))
  const port = probe.address().port
  await new Promise((r) => probe.close(r))
  const app = App().ws('/*', { open: (ws) => ws.send('hi') })
  let token
  app.listen('127.0.0.1', port, (t) => (token = t))
  assert.ok(token, 'listen failed')
  try {
    assert.equal(us_socket_local_port(token), port)
    const c = new WS(`ws://127.0.0.1:${port}/`)
    try {
      const [m] = await collect(c, 1, 5000)
      assert.equal(m.data.toString(), 'hi')
    } finally {
      c.terminate()
    }
  } finally {
    us_listen_socket_close(token)
  }
})

test('us_listen_socket_close stops accepting at once (connect right after it is refused)', T, async () => {
  // uWS.js closes the listening fd synchronously; a connect issued after the call returns
  // must be refused. Repeated because a late close only shows up now and then.
  const accepted = []
  for (let i = 0; i < 40; i++) {
    let token
    App()
      .ws('/*', {})
      .listen('127.0.0.1', 0, (t) => (token = t))
    assert.ok(token)
    const port = us_socket_local_port(token)
    us_listen_socket_close(token)
    assert.equal(us_socket_local_port(token), -1)
    const r = await withTimeout(
      new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1')
        sock.once('connect', () => {
          sock.destroy()
          resolve('connected')
        })
        sock.once('error', (err) => resolve(err.code))
      }),
      5000,
      'connect attempt',
    )
    if (r === 'connected') accepted.push(i)
  }
  assert.deepEqual(accepted, [], 'connections accepted after us_listen_socket_close returned (iterations)')
})

test('listen callback is called synchronously with a token for port 0', T, () => {
  const app = App().ws('/*', {})
  let token = 'not called'
  app.listen(0, (t) => (token = t))
  try {
    assert.notEqual(token, 'not called', 'callback not called synchronously')
    assert.ok(token)
    const port = us_socket_local_port(token)
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`)
  } finally {
    us_listen_socket_close(token)
  }
})

test('listen with LIBUS_LISTEN_EXCLUSIVE_PORT on a port taken by net.Server gives false', T, async () => {
  const taken = net.createServer()
  await new Promise((r) => taken.listen(0, r)) // default host (:: / 0.0.0.0)
  const port = taken.address().port
  try {
    let token = 'not called'
    App()
      .ws('/*', {})
      .listen(port, LIBUS_LISTEN_EXCLUSIVE_PORT, (t) => (token = t))
    if (token) us_listen_socket_close(token)
    assert.equal(token, false)
  } finally {
    await new Promise((r) => taken.close(r))
  }
})

test('listen with LIBUS_LISTEN_EXCLUSIVE_PORT on a 127.0.0.1 port taken by net.Server gives false', T, async () => {
  const taken = net.createServer()
  await new Promise((r) => taken.listen(0, '127.0.0.1', r))
  const port = taken.address().port
  try {
    let token = 'not called'
    App()
      .ws('/*', {})
      .listen('127.0.0.1', port, LIBUS_LISTEN_EXCLUSIVE_PORT, (t) => (token = t))
    if (token) us_listen_socket_close(token)
    assert.equal(token, false)
  } finally {
    await new Promise((r) => taken.close(r))
  }
})

test('a child process that listens, connects, closes and calls us_listen_socket_close exits by itself', T, async () => {
  const script = `
    const { App, us_listen_socket_close, us_socket_local_port } = require(${JSON.stringify(REPO)})
    const WS = require(${JSON.stringify(require.resolve('ws'))})
    let token
    App().ws('/*', {
      message(ws, msg) { ws.send(msg) },
      close() { console.log('server-close') },
    }).listen(0, (t) => { token = t })
    if (!token) process.exit(2)
    const c = new WS('ws://127.0.0.1:' + us_socket_local_port(token) + '/')
    c.on('open', () => c.send('ping'))
    c.on('message', () => c.close(1000))
    c.on('close', () => { console.log('client-close'); us_listen_socket_close(token) })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  let result
  try {
    result = await withTimeout(exited, 6000, 'child exit (the runtime keeps the process alive?)')
  } catch (e) {
    child.kill('SIGKILL')
    await exited
    throw new Error(`${e.message}; stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err)}`)
  }
  assert.deepEqual(result, { code: 0, signal: null }, `stderr: ${err}`)
  assert.match(out, /client-close/)
  assert.match(out, /server-close/)
})

test('a child process that only listens and closes the listener exits by itself', T, async () => {
  const script = `
    const { App, us_listen_socket_close } = require(${JSON.stringify(REPO)})
    App().ws('/*', {}).listen(0, (t) => setTimeout(() => us_listen_socket_close(t), 50))
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  let result
  try {
    result = await withTimeout(exited, 5000, 'child exit')
  } catch (e) {
    child.kill('SIGKILL')
    await exited
    throw e
  }
  assert.deepEqual(result, { code: 0, signal: null }, `stderr: ${err}`)
})

test('broadcast from one handler to every open socket', T, async () => {
  const sockets = new Set()
  const s = startServer({
    '/*': {
      open(ws) {
        sockets.add(ws)
      },
      message(ws, msg) {
        for (const other of sockets) other.send(msg)
      },
      close(ws) {
        sockets.delete(ws)
      },
    },
  })
  const clients = []
  try {
    for (let i = 0; i < 50; i++) clients.push(await openClient(s.url()))
    const all = clients.map((c) => collect(c, 2))
    clients[0].send('hello everyone')
    clients[49].send('me too')
    const results = await Promise.all(all)
    // Two senders on two connections: no server orders them against each other.
    for (const msgs of results) {
      assert.deepEqual(msgs.map((m) => m.data.toString()).sort(), ['hello everyone', 'me too'])
    }
  } finally {
    closeAll(clients)
    s.close()
  }
})
