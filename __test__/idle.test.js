'use strict'
// idleTimeout and automatic pings. These tests wait on real time (a few seconds each).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, rawUpgrade, openClient, collect, withTimeout, sleep, deferred } = require('./helpers')

const T = { timeout: 15000 }

test('idleTimeout: 2 without automatic pings closes a silent connection in ~2-4 s with 1006', T, async () => {
  const closed = deferred()
  let calls = 0
  const s = startServer({
    '/*': {
      idleTimeout: 2,
      sendPingsAutomatically: false,
      close(ws, code) {
        calls++
        closed.resolve({ code, at: Date.now() })
      },
    },
  })
  const raw = await rawUpgrade(s.port)
  const start = Date.now()
  try {
    const { code, at } = await withTimeout(closed.promise, 6000, 'idle close')
    const elapsed = at - start
    assert.ok(elapsed >= 1500, `closed too early: ${elapsed} ms`)
    assert.ok(elapsed <= 4500, `closed too late: ${elapsed} ms`)
    assert.equal(code, 1006)
    await raw.waitFor((r) => r.closed, 3000, 'TCP close')
    // No ping may have been sent.
    assert.ok(!raw.frames().some((f) => f.opcode === 9), 'server pinged although sendPingsAutomatically is false')
    await sleep(100)
    assert.equal(calls, 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('sendPingsAutomatically keeps a ws client (auto-pong) alive past 2 x idleTimeout', T, async () => {
  let closes = 0
  let pongs = 0
  const s = startServer({
    '/*': {
      idleTimeout: 2,
      sendPingsAutomatically: true,
      message(ws, msg) {
        ws.send(msg)
      },
      pong() {
        pongs++
      },
      close() {
        closes++
      },
    },
  })
  const c = await openClient(s.url())
  let pings = 0
  c.on('ping', () => pings++)
  try {
    await sleep(5000)
    assert.equal(c.readyState, 1, 'client connection closed')
    assert.equal(closes, 0, 'server closed the connection')
    assert.ok(pings >= 1, 'server never pinged')
    assert.ok(pongs >= 1, 'pong handler never saw the client pong')
    c.send('still here')
    const [m] = await collect(c, 1, 3000)
    assert.equal(m.data.toString(), 'still here')
  } finally {
    c.terminate()
    s.close()
  }
})

test('client traffic resets the idle timer (no automatic pings)', T, async () => {
  let closes = 0
  const s = startServer({
    '/*': {
      idleTimeout: 2,
      sendPingsAutomatically: false,
      message(ws, msg) {
        ws.send(msg)
      },
      close() {
        closes++
      },
    },
  })
  const c = await openClient(s.url())
  try {
    for (let i = 0; i < 5; i++) {
      await sleep(900)
      c.send(`tick ${i}`)
      await collect(c, 1, 2000)
    }
    assert.equal(closes, 0)
    assert.equal(c.readyState, 1)
  } finally {
    c.terminate()
    s.close()
  }
})

test('idleTimeout: 0 disables the timeout', T, async () => {
  let closes = 0
  const s = startServer({
    '/*': {
      idleTimeout: 0,
      sendPingsAutomatically: false,
      message(ws, msg) {
        ws.send(msg)
      },
      close() {
        closes++
      },
    },
  })
  const raw = await rawUpgrade(s.port)
  try {
    await sleep(3000)
    assert.equal(raw.closed, false, 'connection closed')
    assert.equal(closes, 0)
    assert.equal(raw.frames().length, 0)
  } finally {
    raw.destroy()
    s.close()
  }
})
