'use strict'
// The same round trips with Node's built-in WebSocket client (undici), Node >= 22.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, withTimeout, deferred } = require('./helpers')

const T = { timeout: 15000, skip: typeof WebSocket === 'undefined' && 'needs Node 22 global WebSocket' }

function open(url) {
  const ws = new WebSocket(url)
  ws.binaryType = 'arraybuffer'
  const p = new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true })
    ws.addEventListener('error', (e) => reject(new Error(`WebSocket error: ${e.message || e.type}`)), { once: true })
  })
  return withTimeout(p, 5000, 'open')
}

function nextMessages(ws, n) {
  const out = []
  return withTimeout(
    new Promise((resolve) => {
      const on = (e) => {
        out.push(e.data)
        if (out.length === n) {
          ws.removeEventListener('message', on)
          resolve(out)
        }
      }
      ws.addEventListener('message', on)
    }),
    5000,
    `${n} messages`,
  )
}

function closed(ws) {
  return withTimeout(
    new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }), { once: true })),
    5000,
    'close',
  )
}

test('global WebSocket: text and binary echo keep their type', T, async () => {
  const seen = []
  const s = startServer({
    '/*': {
      message(ws, msg, isBinary) {
        seen.push(isBinary)
        ws.send(msg, isBinary)
      },
    },
  })
  const ws = await open(s.url())
  try {
    const got = nextMessages(ws, 2)
    ws.send('héllo ✓')
    ws.send(new Uint8Array([1, 2, 3, 255]))
    const [a, b] = await got
    assert.equal(typeof a, 'string')
    assert.equal(a, 'héllo ✓')
    assert.ok(b instanceof ArrayBuffer, `binary arrived as ${Object.prototype.toString.call(b)}`)
    assert.deepEqual([...new Uint8Array(b)], [1, 2, 3, 255])
    assert.deepEqual(seen, [false, true])
  } finally {
    ws.close()
    s.close()
  }
})

test('global WebSocket: client close code round trip', T, async () => {
  const server = deferred()
  const s = startServer({
    '/*': {
      close(ws, code, reason) {
        server.resolve({ code, reason: Buffer.from(reason).toString() })
      },
    },
  })
  const ws = await open(s.url())
  try {
    const c = closed(ws)
    ws.close(4000, 'bye')
    assert.deepEqual(await withTimeout(server.promise, 5000, 'server close'), { code: 4000, reason: 'bye' })
    const client = await c
    assert.equal(client.code, 4000)
    assert.equal(client.wasClean, true)
  } finally {
    s.close()
  }
})

test('global WebSocket: server end(4001, "server bye") reaches the client', T, async () => {
  const s = startServer({
    '/*': {
      message(ws) {
        ws.end(4001, 'server bye')
      },
    },
  })
  const ws = await open(s.url())
  try {
    const c = closed(ws)
    ws.send('end please')
    const client = await c
    assert.equal(client.code, 4001)
    assert.equal(client.reason, 'server bye')
    assert.equal(client.wasClean, true)
  } finally {
    s.close()
  }
})
