'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const WS = require('ws')
const { App, us_listen_socket_close, us_socket_local_port } = require('..')

const text = (ab) => Buffer.from(ab).toString()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function serve(behavior, options) {
  let token
  const app = App(options).ws('/*', behavior).listen('127.0.0.1', 0, (t) => (token = t))
  assert.ok(token, 'listen failed')
  return { app, port: us_socket_local_port(token), close: () => us_listen_socket_close(token) }
}

function client(port) {
  return new Promise((resolve, reject) => {
    const c = new WS(`ws://127.0.0.1:${port}/`)
    c.received = []
    c.on('message', (d) => c.received.push(d.toString()))
    c.on('open', () => resolve(c))
    c.on('error', reject)
  })
}

async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

function closeAll(clients) {
  return Promise.all(clients.map((c) => new Promise((r) => (c.readyState === WS.CLOSED ? r() : (c.on('close', r), c.close())))))
}

test('ws.publish skips the sender, app.publish reaches everyone, publishToSelf includes the sender', async () => {
  const results = []
  const s = serve({
    open: (ws) => ws.subscribe('room'),
    message: (ws, m) => results.push(ws.publish('room', m)),
  })
  const [a, b] = [await client(s.port), await client(s.port)]
  a.send('from a')
  await until(() => b.received.length === 1, 'b to get a publish')
  assert.deepEqual(results, [true])
  assert.equal(s.app.publish('room', 'all'), true)
  await until(() => a.received.length === 1 && b.received.length === 2, 'app.publish deliveries')
  assert.deepEqual(a.received, ['all'])
  assert.deepEqual(b.received, ['from a', 'all'])
  assert.equal(s.app.publish('nobody', 'x'), false)
  await closeAll([a, b])
  s.close()

  const self = serve({ publishToSelf: true, open: (ws) => ws.subscribe('t'), message: (ws, m) => ws.publish('t', m) })
  const c = await client(self.port)
  c.send('echo via topic')
  await until(() => c.received.length === 1, 'publishToSelf delivery')
  assert.deepEqual(c.received, ['echo via topic'])
  await closeAll([c])
  self.close()
})

test('isBinary decides the opcode of a publish, for strings as for binary messages', async () => {
  const s = serve({
    open: (ws) => ws.subscribe('t'),
    message: (ws, m, isBinary) => ws.publish('t', Buffer.from(m).toString(), !isBinary),
  })
  const [a, b] = [await client(s.port), await client(s.port)]
  for (const c of [a, b]) {
    c.frames = []
    c.on('message', (d, isBinary) => c.frames.push([d.toString(), isBinary]))
  }
  await until(() => s.app.numSubscribers('t') === 2, 'both subscribed')
  s.app.publish('t', 'app text')
  s.app.publish('t', 'app binary', true)
  s.app.publish('t', Buffer.from('bytes as text'), false)
  const fromApp = [['app text', false], ['app binary', true], ['bytes as text', false]]
  await until(() => a.frames.length === 3 && b.frames.length === 3, 'app.publish deliveries')
  assert.deepEqual(a.frames, fromApp)
  assert.deepEqual(b.frames, fromApp)
  // Republished by a's handler as a string: binary when a sent text, and the reverse.
  a.send('ws binary')
  a.send(Buffer.from('ws text'))
  await until(() => b.frames.length === 5, 'ws.publish deliveries')
  assert.deepEqual(b.frames.slice(3), [['ws binary', true], ['ws text', false]])
  await closeAll([a, b])
  s.close()
})

test('10 000 publishes reach every subscriber in order, interleaved with its own sends', async () => {
  const s = serve({
    open: (ws) => ws.subscribe('seq'),
    message: (ws) => {
      // Each burst: a direct send, then publishes, then another send; order must hold.
      for (let i = 0; i < 10; i++) {
        ws.send(`s${i}`)
        for (let j = 0; j < 100; j++) s.app.publish('seq', `p${i * 100 + j}`)
      }
    },
  })
  const subs = await Promise.all([1, 2, 3].map(() => client(s.port)))
  for (let round = 0; round < 10; round++) subs[0].send('go')
  await until(() => subs.every((c) => c.received.length >= (c === subs[0] ? 10100 : 10000)), 'all deliveries', 20000)
  for (const c of subs) {
    const pubs = c.received.filter((m) => m[0] === 'p').map((m) => Number(m.slice(1)))
    assert.equal(pubs.length, 10000)
    pubs.forEach((v, i) => assert.equal(v, i % 1000, `out of order at ${i}`))
  }
  // The sender's own sends sit between the right publishes.
  const r = subs[0].received
  assert.equal(r[0], 's0')
  assert.equal(r[101], 's1')
  await closeAll(subs)
  s.close()
})

test('a subscriber that stops reading gets every queued publish and send in order, small and large mixed', async () => {
  // Small frames are copied together in the server's queue while larger ones are queued
  // by reference; a full socket writes part of a chunk. Neither may reorder or lose bytes.
  const sizes = [10, 600, 4096, 1, 300, 20000]
  const body = (i) => `${i}:`.padEnd(sizes[i % sizes.length], String.fromCharCode(97 + (i % 26)))
  let sub
  const s = serve({
    maxBackpressure: 64 * 1024 * 1024,
    open: (ws) => {
      ws.subscribe('t')
      sub = ws
    },
  })
  const c = await client(s.port)
  await until(() => sub, 'subscriber open')
  c._socket.pause() // the kernel buffers fill, then the server's queue
  const N = 3000
  const want = []
  for (let i = 0; i < N; i++) {
    if (i % 7 === 3) {
      assert.notEqual(sub.send(`d${body(i)}`), 2)
      want.push(`d${body(i)}`)
    } else {
      s.app.publish('t', body(i))
      want.push(body(i))
    }
    if (i % 500 === 499) await sleep(1) // a few JS turns: the queue grows across flushes
  }
  assert.ok(sub.getBufferedAmount() > 0, 'the server queued what the socket did not take')
  c._socket.resume()
  await until(() => c.received.length === N, 'every message', 20000)
  for (let i = 0; i < N; i++) assert.equal(c.received[i], want[i], `message ${i}`)
  await closeAll([c])
  s.close()
})

test('subscription events, unsubscribe mid-stream, and leaving topics on close', async () => {
  const events = []
  const s = serve({
    open: (ws) => {
      ws.subscribe('a')
      ws.subscribe('b')
      assert.equal(ws.isSubscribed('a'), true)
      assert.deepEqual(ws.getTopics().sort(), ['a', 'b'])
    },
    message: (ws, m) => {
      if (text(m) === 'leave') events.push(`unsub:${ws.unsubscribe('a')}:${ws.unsubscribe('a')}`)
    },
    subscription: (ws, topic, n, o) => events.push(`${text(topic)}:${n}:${o}`),
    close: () => events.push('close'),
  })
  const c = await client(s.port)
  await until(() => events.length === 2, 'subscribe events')
  assert.deepEqual(events, ['a:1:0', 'b:1:0'])
  s.app.publish('a', 'before')
  c.send('leave')
  await until(() => events.length === 4, 'unsubscribe')
  s.app.publish('a', 'after')
  s.app.publish('b', 'b-msg')
  await until(() => c.received.length === 2, 'messages')
  assert.deepEqual(c.received, ['before', 'b-msg'])
  assert.deepEqual(events.slice(2), ['a:0:1', 'unsub:true:false'])
  await closeAll([c])
  await until(() => events.includes('close'), 'close')
  assert.deepEqual(events.slice(4), ['b:0:1', 'close'])
  assert.equal(s.app.numSubscribers('b'), 0)
  assert.deepEqual(s.app.getTopics(), [])
  s.close()
})

test('closing subscribers while publishing; numSubscribers, getSubscribers and stats after churn', async () => {
  const s = serve({ open: (ws) => ws.subscribe('churn') })
  const clients = await Promise.all(Array.from({ length: 50 }, () => client(s.port)))
  await until(() => s.app.numSubscribers('churn') === 50, '50 subscribers')
  const closing = closeAll(clients.slice(0, 25))
  for (let i = 0; i < 200; i++) {
    s.app.publish('churn', `m${i}`)
    await sleep(0)
  }
  await closing
  await until(() => s.app.numSubscribers('churn') === 25, '25 left')
  assert.equal(s.app.getSubscribers('churn').length, 25)
  const stats = s.app.publishWithStats('churn', 'last')
  assert.equal(stats.sent + stats.buffered, 25)
  assert.equal(stats.dropped, 0)
  const survivors = clients.slice(25)
  await until(() => survivors.every((c) => c.received.at(-1) === 'last'), 'last message')
  for (const c of survivors) assert.deepEqual(c.received, [...Array.from({ length: 200 }, (_, i) => `m${i}`), 'last'])
  await closeAll(survivors)
  s.close()
})

test('a slow subscriber drops past maxBackpressure without slowing the others', async () => {
  const dropped = []
  const s = serve({ maxBackpressure: 64 * 1024, open: (ws) => ws.subscribe('t'), dropped: (ws, m) => dropped.push(m.byteLength) })
  const fast = await client(s.port)
  const slow = await client(s.port)
  slow._socket.pause() // never reads: the kernel buffers fill, then the server's queue
  const payload = Buffer.alloc(16 * 1024, 7)
  let totalDropped = 0
  for (let i = 0; i < 2000; i++) {
    totalDropped += s.app.publishWithStats('t', payload, true).dropped
    // Pace to what the fast subscriber reads, so only the slow one falls behind.
    if (i % 2 === 1) await until(() => fast.received.length === i + 1, `fast subscriber at ${i}`)
  }
  await until(() => fast.received.length === 2000, 'fast subscriber gets everything', 20000)
  assert.ok(totalDropped > 0, 'the slow subscriber dropped messages')
  await until(() => dropped.length === totalDropped, 'a dropped event per dropped message')
  assert.ok(dropped.every((n) => n === 16 * 1024))
  slow.terminate()
  await closeAll([fast])
  s.close()
})

test('publishes keep their place among sends, subscription changes and stats publishes of the same turn', async () => {
  // Publishes are recorded and delivered together; every call after them in the turn
  // must still see them as already sent.
  const answers = []
  const s = serve({
    open: (ws) => ws.subscribe('t'),
    message: (ws) => {
      answers.push(s.app.publish('t', 'p1'))
      ws.send('s1')
      answers.push(s.app.publish('t', 'p2'))
      ws.unsubscribe('t')
      answers.push(s.app.publish('t', 'p3'))
      ws.subscribe('t')
      answers.push(s.app.publish('t', 'p4'))
      const stats = s.app.publishWithStats('t', 'p5')
      answers.push(stats.sent + stats.buffered)
      answers.push(s.app.publish('t', 'p6'))
      ws.cork(() => ws.send('s2'))
      answers.push(ws.publish('t', 'p7'))
      ws.end(1000, 'bye')
    },
  })
  const c = await client(s.port)
  const closed = new Promise((r) => c.on('close', (code) => r(code)))
  c.send('go')
  assert.equal(await closed, 1000)
  assert.deepEqual(c.received, ['p1', 's1', 'p2', 'p4', 'p5', 'p6', 's2'])
  // p3 had no subscriber; ws.publish skips its sender, the topic's only subscriber.
  assert.deepEqual(answers, [true, true, false, true, 1, true, false])
  s.close()
})

test('a burst of publishes in one turn drops per message past maxBackpressure, with a dropped event each', async () => {
  const dropped = []
  const s = serve({ maxBackpressure: 64 * 1024, open: (ws) => ws.subscribe('t'), dropped: (ws, m) => dropped.push(text(m)) })
  const fast = await client(s.port)
  const slow = await client(s.port)
  slow._socket.pause()
  // Fill the slow subscriber's kernel buffers and its queue past the limit.
  const filler = Buffer.alloc(64 * 1024, 1)
  for (let i = 0; i < 200 && dropped.length === 0; i++) {
    s.app.publish('t', filler, true)
    await until(() => fast.received.length === i + 1, `fast subscriber at filler ${i}`)
  }
  assert.ok(dropped.length > 0, 'the slow subscriber is past its limit')
  const before = dropped.length
  // One turn: 50 small publishes, recorded and delivered as one run.
  for (let i = 0; i < 50; i++) s.app.publish('t', `m${i}`)
  await until(() => fast.received.length >= 50 && fast.received.at(-1) === 'm49', 'the fast subscriber gets the burst')
  assert.deepEqual(fast.received.slice(-50), Array.from({ length: 50 }, (_, i) => `m${i}`))
  await until(() => dropped.length === before + 50, 'a dropped event per message of the burst')
  assert.deepEqual(dropped.slice(before), Array.from({ length: 50 }, (_, i) => `m${i}`))
  slow.terminate()
  await closeAll([fast])
  s.close()
})

test('thousands of subscribers closing in one batch all leave their topics', { timeout: 60000 }, async () => {
  // The CLOSE events of a mass disconnect reach JS in one dispatch; the RELEASE commands
  // JS answers them with pass the outbox's auto-flush size on the way, and a socket
  // released before its close handling left its topics stayed subscribed for ever.
  const N = 8000
  let closes = 0
  const s = serve({ idleTimeout: 0, open: (ws) => ws.subscribe('all'), close: () => closes++ })
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/raw-subscribers.js'), s.port, N], { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await until(() => out.includes('READY'), 'the subscribers', 45000)
  await until(() => s.app.numSubscribers('all') === N, `${N} subscriptions`)
  const exited = new Promise((r) => child.on('exit', r))
  child.stdin.write('EXIT\n')
  // Keep this thread busy while the peers go, so that their closes queue up together.
  const until2 = Date.now() + 1500
  while (Date.now() < until2);
  await exited
  await until(() => closes === N, 'every close handler', 20000)
  assert.equal(s.app.numSubscribers('all'), 0)
  assert.deepEqual(s.app.getTopics(), [])
  s.close()
})

test('10 000 subscribers on one topic, and 10 000 topics with one subscriber each', { timeout: 120000 }, async () => {
  const s = serve({
    idleTimeout: 0,
    open: (ws) => ws.subscribe('everyone'),
    message: (ws, m) => {
      for (let i = 0; i < 10000; i++) ws.subscribe(`topic-${i}`)
      ws.send(text(m))
    },
  })
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/raw-subscribers.js'), s.port, 10000], { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await until(() => out.includes('READY'), 'the subscribers', 60000)
  await until(() => s.app.numSubscribers('everyone') === 10000, '10 000 subscriptions')
  for (let i = 0; i < 5; i++) assert.equal(s.app.publish('everyone', `hello ${i}`), true)
  child.stdin.write('REPORT\n')
  await until(() => out.includes('['), 'the report')
  let counts = JSON.parse(out.slice(out.indexOf('[')))
  if (!counts.every((n) => n === 5)) {
    out = 'READY\n'
    await sleep(500)
    child.stdin.write('REPORT\n')
    await until(() => out.includes('['), 'the second report')
    counts = JSON.parse(out.slice(out.indexOf('[')))
  }
  assert.equal(counts.filter((n) => n === 5).length, 10000, 'every subscriber got all 5 messages')
  child.stdin.write('EXIT\n')
  await new Promise((r) => child.on('exit', r))
  await until(() => s.app.numSubscribers('everyone') === 0, 'subscribers leaving on close', 30000)

  const c = await client(s.port)
  c.send('subscribed')
  await until(() => c.received.length === 1, 'subscriptions done')
  for (let i = 0; i < 10000; i++) s.app.publish(`topic-${i}`, `t${i}`)
  await until(() => c.received.length === 10001, '10 000 topic messages', 30000)
  assert.equal(c.received[10000], 't9999')
  assert.equal(s.app.getTopics().length, 10001)
  await closeAll([c])
  await until(() => s.app.getTopics().length === 0, 'empty topics freed')
  s.close()
})

test('a publish in one worker thread reaches subscribers connected through another', async () => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const { App, us_socket_local_port, us_listen_socket_close } = require(${JSON.stringify(path.join(__dirname, '..'))})
     let token
     App({ pubsub: 'cross-worker-test' }).ws('/*', { open: (ws) => { ws.subscribe('news'); parentPort.postMessage('subscribed') } })
       .listen('127.0.0.1', 0, (t) => (token = t))
     parentPort.postMessage(us_socket_local_port(token))
     parentPort.on('message', (m) => { if (m === 'stop') { us_listen_socket_close(token); parentPort.close() } })`,
    { eval: true }
  )
  const messages = []
  worker.on('message', (m) => messages.push(m))
  await until(() => messages.length === 1, 'the worker port')
  const c = await client(messages[0])
  await until(() => messages.includes('subscribed'), 'subscription in the worker')
  const main = App({ pubsub: 'cross-worker-test' })
  assert.equal(main.numSubscribers('news'), 1)
  assert.equal(main.publish('news', 'from the main thread'), true)
  await until(() => c.received.length === 1, 'cross-worker delivery')
  assert.deepEqual(c.received, ['from the main thread'])
  assert.equal(App().numSubscribers('news'), 0, 'apps without the name keep private topics')
  await closeAll([c])
  worker.postMessage('stop')
  await worker.terminate()
})
