'use strict'
// `ioThreads: 0`: an App's sockets run on its own JS thread's event loop (no I/O threads,
// no thread hop per message). Everything observable through the API is the same as with
// I/O threads; these tests check that over real sockets, with the timers, backpressure,
// pub/sub, worker threads and process lifetime that depend on how the loop drives it.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { spawn } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { REPO, startServer, RawClient, upgradeRequest, openClient, collect, waitClose, closeAll, withTimeout, sleep, deferred } = require('./helpers')
const { App } = require(REPO)

const T = { timeout: 20000 }
// RSWS_IO_THREADS (set by whoever runs the suite) overrides the option.
const envThreads = process.env.RSWS_IO_THREADS

/** An App with `ioThreads: 0` and `routes`, listening on port 0. */
const startLocal = (routes) => startServer(routes, { appOptions: { ioThreads: 0 } })

const ioThreadNames = () =>
  fs
    .readdirSync('/proc/self/task')
    .map((t) => {
      try {
        return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()
      } catch {
        return ''
      }
    })
    .filter((name) => name.startsWith('rsws-io'))

test('echo of every size, from ws and from Node\'s WebSocket, without any I/O thread', T, async () => {
  const s = startLocal({
    '/*': { maxPayloadLength: 4 << 20, message: (ws, msg, isBinary) => ws.send(msg, isBinary) },
  })
  const clients = []
  try {
    const c = await openClient(s.url())
    clients.push(c)
    for (const size of [0, 1, 125, 126, 20_000, 65_536, 1 << 20]) {
      const payload = Buffer.alloc(size)
      for (let i = 0; i < size; i++) payload[i] = (i * 31 + size) & 0xff
      const got = collect(c, 1)
      c.send(payload)
      const [m] = await got
      assert.ok(Buffer.compare(m.data, payload) === 0, `${size} bytes echoed intact`)
      assert.equal(m.isBinary, true)
    }
    // Many in flight at once, in order.
    const got = collect(c, 500)
    for (let i = 0; i < 500; i++) c.send(`m${i}`)
    assert.deepEqual((await got).map((m) => m.data.toString()), Array.from({ length: 500 }, (_, i) => `m${i}`))

    if (typeof WebSocket === 'function') {
      const w = new WebSocket(s.url())
      const echoed = new Promise((resolve, reject) => {
        w.onmessage = (e) => resolve(e.data)
        w.onerror = () => reject(new Error('WebSocket error'))
      })
      await new Promise((resolve) => (w.onopen = resolve))
      w.send('über')
      assert.equal(await withTimeout(echoed, 5000, 'echo to WebSocket'), 'über')
      w.close()
    }
    if (process.platform === 'linux' && !envThreads) {
      assert.deepEqual(ioThreadNames(), [], 'no rsws I/O thread was started')
    }
  } finally {
    await closeAll(clients)
    s.close()
  }
})

test('idleTimeout closes a silent connection with 1006, driven by the loop\'s timer', T, async () => {
  const closed = deferred()
  const s = startLocal({
    '/*': { idleTimeout: 1, sendPingsAutomatically: false, close: (ws, code) => closed.resolve(code) },
  })
  try {
    // A raw client that answers nothing.
    const raw = new RawClient(s.port)
    await withTimeout(raw.connected, 5000, 'TCP connect')
    await raw.write(upgradeRequest('/', { port: s.port }))
    const start = Date.now()
    assert.equal(await withTimeout(closed.promise, 6000, 'idle close'), 1006)
    const took = Date.now() - start
    assert.ok(took >= 900 && took < 5000, `closed after ${took} ms`)
    assert.equal(raw.status(), 101)
    await withTimeout(raw.ended, 5000, 'socket closed')
  } finally {
    s.close()
  }
})

test('backpressure builds up and drains to a slow reader, with every byte in order', T, async () => {
  const drained = deferred()
  const CHUNK = 64 * 1024
  const COUNT = 64
  const statuses = []
  let peak = 0
  const s = startLocal({
    '/*': {
      maxBackpressure: 64 << 20,
      message: (ws) => {
        for (let i = 0; i < COUNT; i++) {
          const b = Buffer.alloc(CHUNK, i & 0xff)
          statuses.push(ws.send(b, true))
        }
        peak = ws.getBufferedAmount()
      },
      drain: (ws) => {
        if (ws.getBufferedAmount() === 0) drained.resolve()
      },
    },
  })
  const clients = []
  try {
    const c = await openClient(s.url())
    clients.push(c)
    c.pause()
    const got = collect(c, COUNT, 15000)
    c.send('go')
    await sleep(300)
    assert.ok(peak > 0, 'the socket buffer filled: bytes wait in rsws')
    assert.ok(statuses.includes(1) || statuses.includes(2), `some send was buffered: ${[...new Set(statuses)]}`)
    c.resume()
    const msgs = await got
    msgs.forEach((m, i) => assert.ok(m.data.length === CHUNK && m.data.every((b) => b === (i & 0xff)), `chunk ${i}`))
    await withTimeout(drained.promise, 5000, 'drain')
  } finally {
    await closeAll(clients)
    s.close()
  }
})

test('pub/sub: publishes from handlers and from timers reach every subscriber', T, async () => {
  const s = startLocal({
    '/*': {
      open: (ws) => ws.subscribe('room'),
      message: (ws, msg, isBinary) => ws.publish('room', msg, isBinary),
    },
  })
  const clients = []
  try {
    for (let i = 0; i < 5; i++) clients.push(await openClient(s.url()))
    // ws.publish skips the sender (as uWS.js): the first client gets only the timer's.
    const all = clients.map((c, i) => collect(c, i === 0 ? 1 : 2))
    clients[0].send('from a handler')
    setTimeout(() => s.app.publish('room', 'from a timer'), 20)
    const got = await Promise.all(all)
    got.forEach((msgs, i) => {
      const texts = msgs.map((m) => m.data.toString()).sort()
      assert.deepEqual(texts, i === 0 ? ['from a timer'] : ['from a handler', 'from a timer'])
    })
  } finally {
    await closeAll(clients)
    s.close()
  }
})

test('a worker thread runs its own App on its own loop next to the main thread\'s, twice', T, async () => {
  const main = startLocal({ '/*': { message: (ws, msg) => ws.send(`main:${Buffer.from(msg)}`) } })
  const clients = []
  try {
    for (let round = 0; round < 2; round++) {
      const worker = new Worker(
        `
        const { parentPort } = require('node:worker_threads')
        const { App, us_socket_local_port, us_listen_socket_close } = require(${JSON.stringify(REPO)})
        const app = App({ ioThreads: 0 })
        app.ws('/*', { message: (ws, msg) => ws.send('worker:' + Buffer.from(msg)) })
        app.listen(0, (t) => {
          parentPort.postMessage(us_socket_local_port(t))
          parentPort.once('message', () => us_listen_socket_close(t))
        })
        `,
        { eval: true },
      )
      const port = await new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      const w = await openClient(`ws://127.0.0.1:${port}/`)
      const m = await openClient(main.url())
      clients.push(m)
      const [gw, gm] = [collect(w, 1), collect(m, 1)]
      w.send(`w${round}`)
      m.send(`m${round}`)
      assert.equal((await gw)[0].data.toString(), `worker:w${round}`)
      assert.equal((await gm)[0].data.toString(), `main:m${round}`)
      // The worker ends with a socket open on its loop: its runtime goes with it.
      const gone = waitClose(w)
      await worker.terminate()
      await gone
    }
    // The main thread's App still serves.
    const m = await openClient(main.url())
    clients.push(m)
    const g = collect(m, 1)
    m.send('after')
    assert.equal((await g)[0].data.toString(), 'main:after')
  } finally {
    await closeAll(clients)
    main.close()
  }
})

test('the loop\'s handles do not keep the process alive once the App stops listening', T, async () => {
  const script = `
    const { App, us_listen_socket_close, us_socket_local_port } = require(${JSON.stringify(REPO)})
    const WS = require(${JSON.stringify(require.resolve('ws'))})
    const app = App({ ioThreads: 0 })
    app.ws('/*', { idleTimeout: 8, message: (ws, msg) => ws.send(msg), close: () => console.log('closed') })
    app.listen(0, (t) => {
      const c = new WS('ws://127.0.0.1:' + us_socket_local_port(t))
      c.on('open', () => c.send('hi'))
      c.on('message', () => { c.close(); us_listen_socket_close(t) })
    })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const code = await withTimeout(new Promise((r) => child.once('exit', r)), 8000, 'child exit')
  assert.equal(code, 0)
  assert.equal(out.trim(), 'closed')
})

test('a handler that blocks the thread delays I/O, and nothing is lost', T, async () => {
  const s = startLocal({
    '/*': {
      message: (ws, msg) => {
        const text = Buffer.from(msg).toString()
        if (text === 'block') {
          const until = Date.now() + 300
          while (Date.now() < until);
        }
        ws.send(msg)
      },
    },
  })
  const clients = []
  try {
    const c = await openClient(s.url())
    clients.push(c)
    const got = collect(c, 101)
    c.send('block')
    for (let i = 0; i < 100; i++) c.send(`after${i}`)
    const texts = (await got).map((m) => m.data.toString())
    assert.deepEqual(texts, ['block', ...Array.from({ length: 100 }, (_, i) => `after${i}`)])
  } finally {
    await closeAll(clients)
    s.close()
  }
})

test('ioThreads must be an integer from 0 to 64', () => {
  for (const bad of [-1, 1.5, 65, '2', null]) {
    assert.throws(() => App({ ioThreads: bad }), TypeError, String(bad))
  }
})
