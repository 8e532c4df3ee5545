'use strict'
// A route without `open` and `upgrade` handlers: while the App listens, a connection gets
// its WebSocket object only with its first event (an idle one costs JS nothing). Nothing
// of this may be observable through the API: every message, close, app.close(),
// shutdown() and us_listen_socket_close behave as with the object made at once.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { REPO, WS, startServer, openClient, collect, waitClose, closeAll, withTimeout, sleep, deferred, spawnScript } = require('./helpers')

const T = { timeout: 15000 }
const N = 20

const known = (app) => app._sockets.filter((ws) => ws !== undefined).length

/** Opens `n` clients that stay idle, and checks that JS made no WebSocket for them. */
async function openIdle(s, n, clients) {
  for (let i = 0; i < n; i++) clients.push(await openClient(s.url()))
  await sleep(50)
  assert.equal(known(s.app), 0, 'JS made WebSocket objects for idle connections')
}

test('idle connections on a route without open handler get their WebSocket with their first message', T, async () => {
  const seen = new Map()
  const closes = []
  const allClosed = deferred()
  const s = startServer({
    '/*': {
      message(ws, msg) {
        const text = Buffer.from(msg).toString()
        if (!seen.has(ws)) seen.set(ws, { address: Buffer.from(ws.getRemoteAddressAsText()).toString(), texts: [] })
        seen.get(ws).texts.push(text)
        ws.send(msg)
      },
      close(ws, code) {
        closes.push({ ws, code })
        if (closes.length === N) allClosed.resolve()
      },
    },
  })
  const clients = []
  try {
    await openIdle(s, N, clients)

    for (const [i, c] of clients.entries()) c.send(`a${i}`)
    await Promise.all(clients.map((c, i) => collect(c, 1).then(([m]) => assert.equal(m.data.toString(), `a${i}`))))
    assert.equal(known(s.app), N)
    for (const [i, c] of clients.entries()) c.send(`b${i}`)
    await Promise.all(clients.map((c) => collect(c, 1)))

    assert.equal(seen.size, N, 'one WebSocket per connection across its messages')
    for (const { address, texts } of seen.values()) {
      assert.equal(address, '127.0.0.1')
      assert.equal(texts.length, 2)
      assert.equal(texts[0].slice(1), texts[1].slice(1), 'messages of one connection reached one WebSocket')
    }
    for (const c of clients) c.close(1000, 'bye')
    await withTimeout(allClosed.promise, 5000, 'close handlers')
    assert.deepEqual(new Set(closes.map((c) => c.code)), new Set([1000]))
    assert.ok(closes.every((c) => seen.has(c.ws)), 'close got the WebSocket its messages got')
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('automatic pings and their pongs keep an idle connection alive without making its WebSocket', T, async () => {
  const got = deferred()
  const s = startServer({ '/*': { idleTimeout: 1, message: (ws, msg) => got.resolve(Buffer.from(msg).toString()) } })
  try {
    const c = await openClient(s.url())
    let pings = 0
    c.on('ping', () => pings++)
    await sleep(1600)
    assert.ok(pings >= 2, `pings seen: ${pings}`)
    assert.equal(c.readyState, WS.OPEN, 'the pongs kept it open')
    assert.equal(known(s.app), 0, 'pongs answered in Rust made a WebSocket')
    c.send('still here')
    assert.equal(await withTimeout(got.promise, 5000, 'message'), 'still here')
    assert.equal(known(s.app), 1)
    c.close()
  } finally {
    s.close()
  }
})

test('a connection that closes without ever sending still gets exactly one close', T, async () => {
  const closes = []
  const gotClose = deferred()
  const s = startServer({
    '/*': {
      message() {},
      close(ws, code, reason) {
        closes.push({ code, reason: Buffer.from(reason).toString() })
        gotClose.resolve()
      },
    },
  })
  try {
    const c = await openClient(s.url())
    await sleep(50)
    assert.equal(known(s.app), 0)
    c.close(4001, 'never spoke')
    await withTimeout(gotClose.promise, 5000, 'close handler')
    await sleep(50)
    assert.deepEqual(closes, [{ code: 4001, reason: 'never spoke' }])
  } finally {
    s.close()
  }
})

test('app.close() closes idle connections whose WebSocket was not made yet, before it returns', T, async () => {
  const codes = []
  const s = startServer({ '/*': { message() {}, close: (ws, code) => codes.push(code) } })
  const clients = []
  try {
    await openIdle(s, N, clients)
    const closed = clients.map((c) => waitClose(c))
    s.app.close()
    assert.equal(codes.length, N, 'every close handler ran inside app.close()')
    assert.deepEqual(new Set(codes), new Set([1006]))
    await Promise.all(closed)
  } finally {
    closeAll(clients)
  }
})

test('shutdown() ends idle connections whose WebSocket was not made yet', T, async () => {
  const s = startServer({ '/*': { message() {} } })
  const clients = []
  try {
    await openIdle(s, N, clients)
    const closed = clients.map((c) => waitClose(c))
    const result = await withTimeout(s.app.shutdown({ code: 1001, reason: 'bye', timeoutMs: 5000 }), 8000, 'shutdown')
    assert.deepEqual(result, { sockets: N, graceful: N, forced: 0 })
    for (const { code, reason } of await Promise.all(closed)) assert.deepEqual({ code, reason }, { code: 1001, reason: 'bye' })
  } finally {
    closeAll(clients)
  }
})

test('with an open handler the WebSocket is made at once', T, async () => {
  const opened = deferred()
  const s = startServer({ '/*': { open: () => opened.resolve() } })
  try {
    const c = await openClient(s.url())
    await withTimeout(opened.promise, 5000, 'open handler')
    assert.equal(known(s.app), 1)
    c.close()
  } finally {
    s.close()
  }
})

/**
 * Runs `server` (a script whose App logs `READY <port>`, logs `got <text>` and ends the
 * socket with 1000 'done' on a message, and logs `close <code>`) in a child process:
 * a client connects, `afterOpen` runs, then the client sends 'hello' and the child must
 * answer, close and exit by itself.
 */
async function childServes(server, afterOpen) {
  const run = spawnScript(server)
  let client
  try {
    const [, port] = await run.output(/READY (\d+)/)
    client = await openClient(`ws://127.0.0.1:${port}/`)
    await afterOpen(run)
    const closed = waitClose(client)
    client.send('hello')
    assert.deepEqual(await closed, { code: 1000, reason: 'done' })
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, `stderr: ${run.err}`)
    assert.match(run.out, /got hello/)
    assert.match(run.out, /close 1000/)
  } catch (e) {
    await run.kill()
    throw run.failure(e)
  } finally {
    if (client) client.terminate()
  }
}

const childHandlers = `
  message(ws, msg) { console.log('got ' + Buffer.from(msg)); ws.end(1000, 'done') },
  close(ws, code) { console.log('close ' + code) },
`

test('after us_listen_socket_close an idle connection without a WebSocket yet keeps the process alive', T, async () => {
  // The child closes its only listener while a client of the parent is connected and idle;
  // the connection must still work (and keep the process alive) until it closes.
  await childServes(
    `
    const { App, us_listen_socket_close, us_socket_local_port } = require(${JSON.stringify(REPO)})
    let token
    App().ws('/*', { ${childHandlers} }).listen(0, (t) => { token = t })
    if (!token) process.exit(2)
    console.log('READY ' + us_socket_local_port(token))
    process.stdin.once('data', () => {
      us_listen_socket_close(token)
      console.log('listener closed')
    })
  `,
    async (run) => {
      run.child.stdin.end('close\n')
      await run.output(/listener closed/)
      await sleep(300)
    },
  )
})

for (const ioThreads of [undefined, 0]) {
  const name = ioThreads === 0 ? ' (ioThreads: 0)' : ''
  test(`an upgrade accepted after the last listener closed keeps the process alive until its socket closes${name}`, T, async () => {
    // Nothing holds the child's event loop from the timer's end until the socket's OPEN
    // event arrives but the accepted upgrade itself: uWS.js serves this client too.
    await childServes(
      `
      const { App, us_listen_socket_close, us_socket_local_port } = require(${JSON.stringify(REPO)})
      let token
      App(${JSON.stringify(ioThreads === undefined ? {} : { ioThreads })}).ws('/*', {
        upgrade(res, req, context) {
          const key = req.getHeader('sec-websocket-key')
          const protocol = req.getHeader('sec-websocket-protocol')
          const extensions = req.getHeader('sec-websocket-extensions')
          res.onAborted(() => console.log('aborted'))
          us_listen_socket_close(token)
          setTimeout(() => res.upgrade({}, key, protocol, extensions, context), 50)
        },
        ${childHandlers}
      }).listen(0, (t) => { token = t })
      if (!token) process.exit(2)
      console.log('READY ' + us_socket_local_port(token))
    `,
      () => sleep(300),
    )
  })
}

test('a route with an upgrade handler keeps its upgrade user data (not deferred)', T, async () => {
  const got = deferred()
  const s = startServer({
    '/*': {
      upgrade(res, req, context) {
        res.upgrade({ name: 'x' }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context)
      },
      message(ws) {
        got.resolve({ ...ws.getUserData() })
      },
    },
  })
  try {
    const c = await openClient(s.url())
    await sleep(50)
    assert.equal(known(s.app), 1)
    c.send('x')
    assert.deepEqual(await withTimeout(got.promise, 5000, 'message'), { name: 'x' })
    c.close()
  } finally {
    s.close()
  }
})
