'use strict'
// `detachMessages`: a route's message ArrayBuffers are detached when the handler returns
// (uWS.js's rule), and their memory is reused for later messages. Needs
// ArrayBuffer.prototype.transfer (Node 22 and later); on older Node the option keeps
// the default, buffers that stay valid.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { App } = require('..')
const { startServer, openClient, collect, closeAll, sleep } = require('./helpers')

const T = { timeout: 20000 }
const CAN_DETACH = typeof ArrayBuffer.prototype.transfer === 'function'

/** A payload of `len` bytes that says which message it is: byte i is (seed + i * 7) & 255. */
function payload(seed, len) {
  const b = Buffer.allocUnsafe(len)
  for (let i = 0; i < len; i++) b[i] = (seed + i * 7) & 255
  return b
}

/** A server whose one route has `detachMessages` and this message handler. */
function serve(message) {
  return startServer({ '/*': { maxPayloadLength: 1 << 20, detachMessages: true, message } })
}

function isPayload(bytes, seed) {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== ((seed + i * 7) & 255)) return false
  return true
}

test('detachMessages: the message is whole during the handler and detached after it', T, async () => {
  const kept = []
  const s = serve((ws, msg, isBinary) => {
    const bytes = new Uint8Array(msg)
    kept.push({ msg, len: msg.byteLength, ok: isPayload(bytes, bytes[0]) })
    ws.send(msg, isBinary)
  })
  const c = await openClient(s.url())
  try {
    // Small ones come through the event batch, 8 KiB and more beside it.
    const lengths = [0, 5, 1024, 8191, 8192, 20000, 100000]
    const got = collect(c, lengths.length)
    lengths.forEach((len, i) => c.send(payload(i, len)))
    const echoes = await got
    echoes.forEach((m, i) => assert.ok(m.data.equals(payload(i, lengths[i])), `echo ${i} (${lengths[i]} B)`))
    assert.deepEqual(
      kept.map((k) => [k.len, k.ok]),
      lengths.map((len) => [len, true]),
    )
    for (const k of kept) {
      assert.equal(k.msg.byteLength, CAN_DETACH ? 0 : k.len)
      if (CAN_DETACH) assert.equal(k.msg.detached, true)
    }
  } finally {
    c.terminate()
    s.close()
  }
})

test('detachMessages: reused memory never shows another message, across lengths and sockets', T, async () => {
  let bad = 0
  let seen = 0
  const s = serve((ws, msg, isBinary) => {
    const bytes = new Uint8Array(msg)
    seen++
    if (!isPayload(bytes, bytes[0])) bad++
    // Dirty the buffer after the echo went out: a reused buffer must be overwritten.
    ws.send(msg, isBinary)
    bytes.fill(0xee)
  })
  const clients = await Promise.all(Array.from({ length: 6 }, () => openClient(s.url())))
  try {
    // Lengths repeat, so buffers are reused, and vary, so they are chosen by length. Each
    // round waits for the one before: its buffers are then free for reuse.
    const lengths = [16, 700, 16, 9000, 16384, 700, 16384, 9000, 65536, 16384, 3, 16384]
    const rounds = 8
    for (let r = 0; r < rounds; r++) {
      await Promise.all(
        clients.map(async (c, ci) => {
          const want = lengths.map((len, i) => payload(ci * 31 + r * 13 + i, len))
          const got = collect(c, want.length)
          for (const p of want) c.send(p)
          const echoes = await got
          echoes.forEach((m, i) => assert.ok(m.data.equals(want[i]), `round ${r} client ${ci} echo ${i}`))
        }),
      )
    }
    assert.equal(seen, clients.length * rounds * lengths.length)
    assert.equal(bad, 0)
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('detachMessages: a kept message cannot be sent later, and the socket stays usable', T, async () => {
  let kept
  let later
  const s = serve((ws, msg, isBinary) => {
    if (kept === undefined) {
      kept = msg
      setImmediate(() => {
        try {
          ws.send(kept, true)
          later = 'sent'
        } catch (err) {
          later = err
        }
        ws.send('after', false)
      })
      return
    }
    ws.send(msg, isBinary)
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, CAN_DETACH ? 2 : 3)
    c.send(Buffer.from('first'))
    await sleep(50)
    c.send(Buffer.from('second'))
    const texts = (await got).map((m) => m.data.toString())
    if (CAN_DETACH) {
      assert.ok(later instanceof TypeError, `send of a detached message: ${later}`)
      assert.deepEqual(texts.sort(), ['after', 'second'])
    } else {
      assert.equal(later, 'sent')
      assert.deepEqual(texts.sort(), ['after', 'first', 'second'])
    }
  } finally {
    c.terminate()
    s.close()
  }
})

const NEEDS_TRANSFER = { ...T, skip: !CAN_DETACH && 'ArrayBuffer.prototype.transfer needs Node 22 or later' }

test('detachMessages: a handler keeps a message with transfer(), without a copy', NEEDS_TRANSFER, async () => {
  const mine = []
  const s = serve((ws, msg) => {
    mine.push(msg.transfer())
    ws.send('ok', false)
  })
  const c = await openClient(s.url())
  try {
    const lengths = [10, 10, 40000, 40000]
    for (let i = 0; i < lengths.length; i++) {
      const got = collect(c, 1)
      c.send(payload(i, lengths[i]))
      assert.equal((await got)[0].data.toString(), 'ok')
    }
    await sleep(20)
    mine.forEach((m, i) => assert.ok(isPayload(new Uint8Array(m), i) && m.byteLength === lengths[i], `kept message ${i}`))
  } finally {
    c.terminate()
    s.close()
  }
})

test('detachMessages: an async handler has the message until its first await', T, async () => {
  const lengths = []
  const s = serve(async (ws, msg) => {
    lengths.push(msg.byteLength)
    const copy = msg.slice(0)
    await null
    lengths.push(msg.byteLength)
    ws.send(copy, true)
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, 1)
    c.send(Buffer.from('abcdef'))
    assert.equal((await got)[0].data.toString(), 'abcdef')
    assert.deepEqual(lengths, [6, CAN_DETACH ? 0 : 6])
  } finally {
    c.terminate()
    s.close()
  }
})

test('detachMessages must be a boolean', () => {
  const app = App()
  assert.throws(() => app.ws('/*', { detachMessages: 1 }), { name: 'TypeError', message: /detachMessages must be a boolean/ })
  app.ws('/*', { detachMessages: false })
  app.close()
})
