'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, openClient, closeAll, waitClose, withTimeout, sleep, deferred } = require('./helpers')

const T = { timeout: 15000 }
const CLOSED = /Invalid access of closed WebSocket/

test('client closes with 4000 "bye": server handler sees it, client gets 4000 echoed', T, async () => {
  const closed = deferred()
  let calls = 0
  const s = startServer({
    '/*': {
      close(ws, code, reason) {
        calls++
        closed.resolve({ code, reason: Buffer.from(reason).toString(), isAB: reason instanceof ArrayBuffer })
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.close(4000, 'bye')
    const [server, client] = await Promise.all([withTimeout(closed.promise, 5000, 'server close'), waitClose(c)])
    assert.deepEqual(server, { code: 4000, reason: 'bye', isAB: true })
    assert.equal(client.code, 4000)
    await sleep(100)
    assert.equal(calls, 1)
  } finally {
    c.terminate()
    s.close()
  }
})

test('client closes without a code: server handler sees 1005', T, async () => {
  const closed = deferred()
  const s = startServer({
    '/*': {
      close(ws, code, reason) {
        closed.resolve({ code, len: reason.byteLength })
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.close()
    const server = await withTimeout(closed.promise, 5000, 'server close')
    assert.deepEqual(server, { code: 1005, len: 0 })
    const client = await waitClose(c)
    assert.equal(client.code, 1005)
  } finally {
    c.terminate()
    s.close()
  }
})

test('server end(4001, "server bye"): client sees it; close handler runs synchronously once', T, async () => {
  const log = []
  const result = deferred()
  const s = startServer({
    '/*': {
      message(ws) {
        log.push('before end')
        ws.end(4001, 'server bye')
        log.push('after end')
        result.resolve()
      },
      close(ws, code, reason) {
        log.push(`close ${code} ${Buffer.from(reason).toString()}`)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('please end')
    const client = await waitClose(c)
    await withTimeout(result.promise, 5000, 'message handler')
    assert.deepEqual(client, { code: 4001, reason: 'server bye' })
    await sleep(200) // the peer's close reply must not run the handler again
    assert.deepEqual(log, ['before end', 'close 4001 server bye', 'after end'])
  } finally {
    c.terminate()
    s.close()
  }
})

test('server end() with no arguments: client sees a normal close without a status', T, async () => {
  const codes = []
  const s = startServer({
    '/*': {
      open(ws) {
        ws.end()
      },
      close(ws, code) {
        codes.push(code)
      },
    },
  })
  const c = new (require('ws'))(s.url())
  try {
    const client = await waitClose(c)
    assert.ok(client.code === 1005 || client.code === 1000, `client code ${client.code}`)
    await sleep(100)
    assert.equal(codes.length, 1)
  } finally {
    c.terminate()
    s.close()
  }
})

test('server end(1005 | 1006 | 1015): an empty close goes out (those codes must not be sent), the handler sees the code', T, async () => {
  for (const code of [1005, 1006, 1015]) {
    const codes = []
    const s = startServer({
      '/*': {
        open(ws) {
          ws.end(code, 'not sent')
        },
        close(ws, c) {
          codes.push(c)
        },
      },
    })
    const c = new (require('ws'))(s.url())
    const errors = []
    c.on('error', (e) => errors.push(e.message))
    try {
      const client = await waitClose(c)
      // A close frame carrying the code would be a protocol error for the client (1002).
      assert.deepEqual([client.code, errors], [1005, []], `end(${code})`)
      assert.deepEqual(codes, [code])
    } finally {
      c.terminate()
      s.close()
    }
  }
})

test('messages sent before end() are delivered before the close frame', T, async () => {
  const s = startServer({
    '/*': {
      open(ws) {
        ws.send('one')
        ws.send('two')
        ws.end(4002, 'done')
      },
    },
  })
  const c = new (require('ws'))(s.url())
  const msgs = []
  c.on('message', (d) => msgs.push(d.toString()))
  try {
    const client = await waitClose(c)
    assert.deepEqual(msgs, ['one', 'two'])
    assert.deepEqual(client, { code: 4002, reason: 'done' })
  } finally {
    c.terminate()
    s.close()
  }
})

test('server close(): client sees 1006, handler got 1006 synchronously', T, async () => {
  const log = []
  const s = startServer({
    '/*': {
      message(ws) {
        log.push('before')
        ws.close()
        log.push('after')
      },
      close(ws, code, reason) {
        log.push(`close ${code} ${reason.byteLength}`)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('drop me')
    const client = await waitClose(c)
    assert.equal(client.code, 1006)
    await sleep(100)
    assert.deepEqual(log, ['before', 'close 1006 0', 'after'])
  } finally {
    c.terminate()
    s.close()
  }
})

test('methods on a closed WebSocket throw, also inside the close handler', T, async () => {
  const inside = deferred()
  let kept
  const s = startServer({
    '/*': {
      open(ws) {
        kept = ws
      },
      close(ws) {
        const errs = {}
        for (const [name, fn] of [
          ['send', () => ws.send('x')],
          ['end', () => ws.end(1000)],
          ['close', () => ws.close()],
          ['getUserData', () => ws.getUserData()],
          ['ping', () => ws.ping('p')],
          ['cork', () => ws.cork(() => {})],
          ['getRemoteAddressAsText', () => ws.getRemoteAddressAsText()],
        ]) {
          try {
            fn()
            errs[name] = 'no throw'
          } catch (err) {
            errs[name] = err.message
          }
        }
        inside.resolve(errs)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.close(1000)
    const errs = await withTimeout(inside.promise, 5000, 'close handler')
    for (const [name, msg] of Object.entries(errs)) assert.match(msg, CLOSED, `${name} inside close handler`)
    // And afterwards, from outside any handler.
    assert.ok(kept)
    assert.throws(() => kept.send('x'), CLOSED)
    assert.throws(() => kept.send(new Uint8Array(1), true), CLOSED)
    assert.throws(() => kept.end(1000, 'x'), CLOSED)
    assert.throws(() => kept.close(), CLOSED)
    assert.throws(() => kept.getUserData(), CLOSED)
  } finally {
    c.terminate()
    s.close()
  }
})

test('methods throw right after end() and close() within the same handler', T, async () => {
  const res = deferred()
  const s = startServer({
    '/*': {
      message(ws, msg) {
        const how = Buffer.from(msg).toString()
        if (how === 'end') ws.end(1000)
        else ws.close()
        const out = []
        for (const fn of [() => ws.send('late'), () => ws.getUserData(), () => ws.end(1000)]) {
          try {
            fn()
            out.push('no throw')
          } catch (err) {
            out.push(err.message)
          }
        }
        res.resolve(out)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('end')
    const out = await withTimeout(res.promise, 5000, 'handler')
    for (const m of out) assert.match(m, CLOSED)
    const client = await waitClose(c)
    assert.equal(client.code, 1000)
  } finally {
    c.terminate()
    s.close()
  }
})

test('the peer vanishing (terminate) fires the close handler exactly once with 1006', T, async () => {
  const closed = deferred()
  let calls = 0
  const codes = []
  const s = startServer({
    '/*': {
      close(ws, code, reason) {
        calls++
        codes.push([code, reason.byteLength])
        closed.resolve()
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.terminate()
    await withTimeout(closed.promise, 5000, 'server close handler')
    await sleep(200)
    assert.equal(calls, 1)
    assert.deepEqual(codes, [[1006, 0]])
  } finally {
    s.close()
  }
})

test('sending to a socket whose peer vanished does not crash and close fires once', T, async () => {
  let calls = 0
  let sock
  const opened = deferred()
  const closed = deferred()
  const s = startServer({
    '/*': {
      open(ws) {
        sock = ws
        opened.resolve()
      },
      close() {
        calls++
        closed.resolve()
      },
    },
  })
  const c = await openClient(s.url())
  try {
    await withTimeout(opened.promise, 5000, 'open')
    c.terminate()
    // Keep sending until the server notices.
    const deadline = Date.now() + 5000
    while (calls === 0 && Date.now() < deadline) {
      try {
        sock.send(Buffer.alloc(1024), true)
      } catch (err) {
        assert.match(err.message, CLOSED)
      }
      await sleep(10)
    }
    await withTimeout(closed.promise, 1000, 'close handler')
    await sleep(100)
    assert.equal(calls, 1)
  } finally {
    s.close()
  }
})

test('end() reason longer than 123 bytes is rejected or truncated, never breaks the frame', T, async () => {
  const s = startServer({
    '/*': {
      open(ws) {
        try {
          ws.end(4003, 'r'.repeat(200))
        } catch {
          ws.end(4003, 'fallback')
        }
      },
    },
  })
  const c = new (require('ws'))(s.url())
  let clientError = null
  c.on('error', (e) => (clientError = e))
  try {
    const client = await waitClose(c)
    assert.equal(clientError, null, `client saw a protocol error: ${clientError && clientError.message}`)
    assert.equal(client.code, 4003)
    assert.ok(Buffer.byteLength(client.reason) <= 123)
  } finally {
    c.terminate()
    s.close()
  }
})

test('open, message and close events arrive in order', T, async () => {
  const events = []
  const s = startServer({
    '/*': {
      open() {
        events.push('open')
      },
      message(ws, msg) {
        events.push(`msg ${Buffer.from(msg).toString()}`)
      },
      close(ws, code) {
        events.push(`close ${code}`)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('a')
    c.close(1000)
    await waitClose(c)
    await sleep(100)
    assert.deepEqual(events, ['open', 'msg a', 'close 1000'])
  } finally {
    c.terminate()
    s.close()
  }
})


test('sends accepted before the close handler runs reach a client that closed, before the close echo', T, async () => {
  // The client's close frame is read while JS is busy with the message before it; the
  // sends JS makes then return 1, so they must be written before the server's close frame.
  const statuses = []
  const closed = deferred()
  const s = startServer({
    '/*': {
      message(ws) {
        const until = Date.now() + 100
        while (Date.now() < until);
        for (let i = 0; i < 20; i++) statuses.push(ws.send(`late ${i}`))
      },
      close(ws, code) {
        closed.resolve(code)
      },
    },
  })
  try {
    const client = await openClient(s.url())
    const got = []
    client.on('message', (m) => got.push(m.toString()))
    client.send('go')
    client.close(4001, 'leaving')
    const [code] = await Promise.all([withTimeout(closed.promise, 5000, 'close handler'), waitClose(client)])
    assert.equal(code, 4001)
    assert.deepEqual(statuses, Array(20).fill(1))
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `late ${i}`))
  } finally {
    s.close()
  }
})

// With `ioThreads: 0` nothing reads while this thread is blocked (as in uWS.js): the
// upgrade is only answered after close()/shutdown(), which then refuse it.
const onJsThread = process.env.RSWS_IO_THREADS === '0'

test('app.close() and shutdown() also end connections whose open event JS has not dispatched yet', { ...T, skip: onJsThread && 'needs I/O threads' }, async () => {
  const { App, us_socket_local_port, us_listen_socket_close } = require('..')
  const { RawClient, upgradeRequest } = require('./helpers')
  for (const how of ['close', 'shutdown']) {
    const log = []
    const app = App().ws('/*', {
      open: () => log.push('open'),
      close: (ws, code) => log.push(`close ${code}`),
    })
    let token
    app.listen('127.0.0.1', 0, (t) => (token = t))
    const port = us_socket_local_port(token)
    const raw = new RawClient(port)
    await withTimeout(raw.connected, 5000, 'TCP connect')
    await raw.write(upgradeRequest('/', { port }))
    // Block this thread while the I/O thread answers the upgrade and queues the open
    // event, so that close()/shutdown() run before that event was dispatched.
    const until = Date.now() + 200
    while (Date.now() < until);
    let result
    if (how === 'close') app.close()
    else result = app.shutdown({ timeoutMs: 2000 })
    if (how === 'close') assert.deepEqual(log, ['open', 'close 1006'], 'close handler ran before close() returned')
    await raw.waitEnd(5000)
    assert.equal(raw.status(), 101)
    if (result) assert.equal((await result).sockets, 1)
    assert.deepEqual(log.slice(0, 1), ['open'])
    assert.equal(log.length, 2)
    us_listen_socket_close(token)
  }
})

test('shutdown() from an HTTP handler counts the sockets whose OPEN comes later in the batch', T, async () => {
  // The WebSocket route has no open handler, so each socket's OPEN record comes with its
  // first message. The request and the messages are written together, so JS takes the
  // request and the OPENs after it in one batch: shutdown() runs before those sockets
  // exist in JS, with no other socket to wait for.
  const { RawClient } = require('./helpers')
  let result
  const closes = []
  const s = startServer({
    '/*': {
      message: () => {},
      close: (ws, code) => closes.push(code),
    },
  })
  s.app.get('/stop', (res) => {
    result = s.app.shutdown({ code: 1001, timeoutMs: 3000 })
    res.end('stopping')
  })
  const clients = []
  try {
    for (let i = 0; i < 6; i++) clients.push(await openClient(s.url()))
    const raw = new RawClient(s.port)
    await withTimeout(raw.connected, 5000, 'TCP connect')
    const closed = clients.map((c) => new Promise((r) => c.once('close', (code) => r(code))))
    raw.socket.write('GET /stop HTTP/1.1\r\nHost: x\r\n\r\n')
    for (const c of clients) c.send('hello')
    const codes = await withTimeout(Promise.all(closed), 5000, 'every socket ended')
    assert.deepEqual(codes, Array(6).fill(1001))
    assert.ok(result, 'the /stop handler ran')
    const counts = await withTimeout(result, 5000, 'shutdown')
    assert.deepEqual(closes, Array(6).fill(1001))
    assert.deepEqual(counts, { sockets: 6, graceful: 6, forced: 0 })
  } finally {
    closeAll(clients)
    s.close()
  }
})
