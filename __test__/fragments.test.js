'use strict'
// sendFirstFragment / sendFragment / sendLastFragment, and publishes around them.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, openClient, collect, withTimeout, deferred, rawUpgrade, decodeFrames } = require('./helpers')

const T = { timeout: 15000 }

test('a fragmented text message arrives whole; binary too', T, async () => {
  const statuses = []
  const s = startServer({
    '/*': {
      message(ws) {
        statuses.push(ws.sendFirstFragment('Hel'), ws.sendFragment('lo, '), ws.sendLastFragment('world'))
        statuses.push(ws.sendFirstFragment(new Uint8Array([1, 2]), true), ws.sendLastFragment(new Uint8Array([3])))
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, 2)
    c.send('go')
    const [a, b] = await got
    assert.deepEqual([a.data.toString(), a.isBinary], ['Hello, world', false])
    assert.deepEqual([[...b.data], b.isBinary], [[1, 2, 3], true])
    assert.deepEqual(statuses, [1, 1, 1, 1, 1])
  } finally {
    c.terminate()
    s.close()
  }
})

test('frames on the wire: FIN clear then continuation frames, FIN on the last', T, async () => {
  const s = startServer({
    '/*': {
      open(ws) {
        ws.sendFirstFragment('a')
        ws.sendFragment('b')
        ws.sendLastFragment('c')
      },
    },
  })
  const raw = await rawUpgrade(s.port)
  try {
    await raw.waitFor((r) => decodeFrames(r.body()).frames.length >= 3)
    const frames = decodeFrames(raw.body()).frames.map((f) => [f.fin, f.opcode, f.payload.toString()])
    assert.deepEqual(frames, [
      [false, 1, 'a'],
      [false, 0, 'b'],
      [true, 0, 'c'],
    ])
  } finally {
    raw.destroy()
    s.close()
  }
})

test('a publish to a socket mid-message waits for its last fragment', T, async () => {
  const ready = deferred()
  let sender
  const s = startServer({
    '/*': {
      open(ws) {
        ws.subscribe('news')
        if (!sender) {
          sender = ws
          ready.resolve()
        }
      },
      message(ws, m) {
        if (Buffer.from(m).toString() === 'go') {
          sender.sendFirstFragment('part1-')
          s.app.publish('news', 'published')
          setTimeout(() => sender.sendLastFragment('part2'), 50)
        }
      },
    },
  })
  const c = await openClient(s.url())
  try {
    await ready.promise
    const got = collect(c, 2)
    c.send('go')
    const msgs = (await got).map((m) => m.data.toString())
    assert.deepEqual(msgs, ['part1-part2', 'published'])
  } finally {
    c.terminate()
    s.close()
  }
})

test('misuse throws a JS error: fragment without a first, send in the middle', T, async () => {
  const errors = deferred()
  const s = startServer({
    '/*': {
      message(ws) {
        const out = []
        for (const fn of [() => ws.sendFragment('x'), () => ws.sendLastFragment('x')]) {
          try {
            fn()
            out.push('ok')
          } catch (err) {
            out.push(err instanceof Error)
          }
        }
        ws.sendFirstFragment('a')
        try {
          ws.send('b')
          out.push('ok')
        } catch (err) {
          out.push(err instanceof Error)
        }
        ws.sendLastFragment('c')
        errors.resolve(out)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, 1)
    c.send('go')
    assert.deepEqual(await withTimeout(errors.promise, 5000, 'message'), [true, true, true])
    const [m] = await got
    assert.equal(m.data.toString(), 'ac')
  } finally {
    c.terminate()
    s.close()
  }
})
