'use strict'
// Raw-TCP protocol conformance: hand-made frames after a hand-written upgrade.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, rawUpgrade, encodeFrame, closePayload, withTimeout, sleep, deferred } = require('./helpers')

const T = { timeout: 15000 }
const TEXT = 1
const BINARY = 2
const CONT = 0
const CLOSE = 8
const PING = 9
const PONG = 10

/** A server recording its events, echoing messages. */
function recordingServer(extra = {}) {
  const events = { opens: 0, messages: [], closes: [], pings: [], pongs: [] }
  const closed = deferred()
  const s = startServer({
    '/*': {
      open() {
        events.opens++
      },
      message(ws, msg, isBinary) {
        events.messages.push({ data: Buffer.from(msg), isBinary })
        ws.send(msg, isBinary)
      },
      close(ws, code, reason) {
        events.closes.push({ code, reason: Buffer.from(reason).toString() })
        closed.resolve()
      },
      ...extra,
    },
  })
  return { s, events, closed: closed.promise }
}

function closeFrameOf(frames) {
  return frames.find((f) => f.opcode === CLOSE)
}

/**
 * Sends `frames` (Buffers, written in one go) on a fresh connection and expects the server
 * to answer with a close frame carrying `code`, then close TCP; the close handler must run
 * exactly once.
 */
async function expectViolation(frames, code, extra = {}) {
  const { s, events, closed } = recordingServer(extra)
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(Buffer.concat(frames))
    const got = await raw.waitCloseFrame()
    const cf = closeFrameOf(got)
    assert.ok(cf, `expected a close frame with ${code}, got frames ${JSON.stringify(got.map((f) => f.opcode))} and TCP closed=${raw.closed}`)
    assert.equal(cf.code, code, `close code (reason: ${JSON.stringify(cf.reason)})`)
    assert.equal(cf.masked, false, 'server frames must not be masked')
    await raw.waitEnd(5000)
    await withTimeout(closed, 5000, 'server close handler')
    await sleep(100)
    assert.equal(events.closes.length, 1, 'close handler exactly once')
    assert.ok([code, 1006].includes(events.closes[0].code), `close handler code ${events.closes[0].code}`)
    return { events, frames: got }
  } finally {
    raw.destroy()
    s.close()
  }
}

test('echo over raw TCP: server frames are unmasked and well-formed', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: TEXT, payload: 'hello' }))
    await raw.write(encodeFrame({ opcode: BINARY, payload: Buffer.from([1, 2, 3]) }))
    const frames = await raw.waitFrames(2)
    assert.equal(frames.length, 2)
    assert.deepEqual(
      frames.map((f) => ({ fin: f.fin, rsv: f.rsv, opcode: f.opcode, masked: f.masked, payload: f.payload.toString('hex') })),
      [
        { fin: true, rsv: 0, opcode: TEXT, masked: false, payload: Buffer.from('hello').toString('hex') },
        { fin: true, rsv: 0, opcode: BINARY, masked: false, payload: '010203' },
      ],
    )
    assert.equal(events.messages.length, 2)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('unmasked client frame -> 1002', T, async () => {
  const { events } = await expectViolation([encodeFrame({ opcode: TEXT, payload: 'hi', mask: false })], 1002)
  assert.equal(events.messages.length, 0)
})

test('reserved opcode 3 -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: 3, payload: 'x' })], 1002)
})

test('reserved control opcode 0xB -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: 0xb, payload: '' })], 1002)
})

test('RSV1 set (no extension negotiated) -> 1002', T, async () => {
  const { events } = await expectViolation([encodeFrame({ opcode: TEXT, rsv: 4, payload: 'x' })], 1002)
  assert.equal(events.messages.length, 0)
})

test('RSV2 / RSV3 set -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: BINARY, rsv: 2, payload: 'x' })], 1002)
  await expectViolation([encodeFrame({ opcode: BINARY, rsv: 1, payload: 'x' })], 1002)
})

test('fragmented ping (fin=0 control frame) -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: PING, fin: false, payload: 'p' })], 1002)
})

test('ping with a 126-byte payload -> 1002', T, async () => {
  const { frames } = await expectViolation([encodeFrame({ opcode: PING, payload: Buffer.alloc(126, 0x61) })], 1002)
  assert.ok(!frames.some((f) => f.opcode === PONG), 'no pong for an oversized ping')
})

test('continuation frame with no message in progress -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: CONT, payload: 'x' })], 1002)
})

test('new data frame while a fragmented message is in progress -> 1002', T, async () => {
  await expectViolation(
    [encodeFrame({ opcode: TEXT, fin: false, payload: 'a' }), encodeFrame({ opcode: TEXT, payload: 'b' })],
    1002,
  )
})

test('invalid UTF-8 text -> 1007', T, async () => {
  const bad = Buffer.from('cebae1bdb9cebcceb5eda080656469746564', 'hex')
  const { events } = await expectViolation([encodeFrame({ opcode: TEXT, payload: bad })], 1007)
  assert.equal(events.messages.length, 0, 'invalid text must not reach the message handler')
})

test('invalid UTF-8 in a binary message is fine', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    const bad = Buffer.from('cebae1bdb9cebcceb5eda080656469746564', 'hex')
    await raw.write(encodeFrame({ opcode: BINARY, payload: bad }))
    const [f] = await raw.waitFrames(1)
    assert.equal(f.opcode, BINARY)
    assert.ok(f.payload.equals(bad))
    assert.equal(events.messages[0].isBinary, true)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('invalid UTF-8 in the first fragment -> 1007 before the final fragment is sent', T, async () => {
  const { s, events, closed } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    // ED A0 80 is an encoded surrogate: invalid as soon as A0 is seen.
    await raw.write(encodeFrame({ opcode: TEXT, fin: false, payload: Buffer.from('cebae1bdb9eda080', 'hex') }))
    const frames = await raw.waitCloseFrame(3000)
    const cf = closeFrameOf(frames)
    assert.ok(cf, `no close frame (TCP closed=${raw.closed})`)
    assert.equal(cf.code, 1007)
    await raw.waitEnd()
    await withTimeout(closed, 5000, 'close handler')
    assert.equal(events.messages.length, 0)
    assert.equal(events.closes.length, 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('truncated UTF-8 at the end of a text message -> 1007', T, async () => {
  await expectViolation([encodeFrame({ opcode: TEXT, payload: Buffer.from([0x61, 0xe2, 0x82]) })], 1007)
})

test('a code point straddling two fragments is accepted and echoed', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    const whole = Buffer.from('ab€cd😀') // € = E2 82 AC, 😀 = F0 9F 98 80
    const cut1 = 4 // 'ab' + E2 82 | AC ...
    const cut2 = whole.length - 2 // ... F0 9F | 98 80
    await raw.write(encodeFrame({ opcode: TEXT, fin: false, payload: whole.subarray(0, cut1) }))
    await sleep(50)
    await raw.write(encodeFrame({ opcode: CONT, fin: false, payload: whole.subarray(cut1, cut2) }))
    await sleep(50)
    await raw.write(encodeFrame({ opcode: CONT, fin: true, payload: whole.subarray(cut2) }))
    const frames = await raw.waitFrames(1)
    assert.equal(frames[0].opcode, TEXT)
    assert.equal(frames[0].payload.toString(), 'ab€cd😀')
    assert.equal(events.messages.length, 1)
    assert.equal(events.messages[0].isBinary, false)
    assert.equal(events.messages[0].data.toString(), 'ab€cd😀')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('control frames interleaved in a fragmented message are handled', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(
      Buffer.concat([
        encodeFrame({ opcode: BINARY, fin: false, payload: Buffer.from([1, 2]) }),
        encodeFrame({ opcode: PING, payload: 'mid' }),
        encodeFrame({ opcode: CONT, fin: true, payload: Buffer.from([3]) }),
      ]),
    )
    const frames = await raw.waitFrames(2)
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('hex')]),
      [
        [PONG, Buffer.from('mid').toString('hex')],
        [BINARY, '010203'],
      ],
    )
    assert.equal(events.messages.length, 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('a message of exactly maxPayloadLength (16 KiB default) is accepted', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: BINARY, payload: Buffer.alloc(16 * 1024, 1) }))
    const frames = await raw.waitFrames(1)
    assert.equal(frames[0].opcode, BINARY)
    assert.equal(frames[0].payload.length, 16 * 1024)
    assert.equal(events.messages.length, 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('message over maxPayloadLength (16 KiB + 1) -> 1009', T, async () => {
  const { events } = await expectViolation([encodeFrame({ opcode: BINARY, payload: Buffer.alloc(16 * 1024 + 1, 1) })], 1009)
  assert.equal(events.messages.length, 0)
})

test('fragmented message whose total exceeds maxPayloadLength -> 1009', T, async () => {
  await expectViolation(
    [
      encodeFrame({ opcode: TEXT, fin: false, payload: Buffer.alloc(10 * 1024, 0x61) }),
      encodeFrame({ opcode: CONT, fin: true, payload: Buffer.alloc(10 * 1024, 0x61) }),
    ],
    1009,
  )
})

test('custom maxPayloadLength is honoured', T, async () => {
  await expectViolation([encodeFrame({ opcode: TEXT, payload: 'x'.repeat(101) })], 1009, { maxPayloadLength: 100 })
})

test('frame header announcing 2^40 bytes -> 1009 without the payload being sent', T, async () => {
  const header = encodeFrame({ opcode: BINARY, payload: Buffer.alloc(0), length: 2 ** 40 })
  assert.equal(header.length, 2 + 8 + 4)
  await expectViolation([header], 1009)
})

test('frame header with the 64-bit length MSB set -> 1002 or 1009', T, async () => {
  const header = encodeFrame({ opcode: BINARY, payload: Buffer.alloc(0), length: 2 ** 40 })
  header[2] |= 0x80
  const { s, closed } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(header)
    const cf = closeFrameOf(await raw.waitCloseFrame())
    assert.ok(cf, 'no close frame')
    assert.ok([1002, 1009].includes(cf.code), `code ${cf.code}`)
    await raw.waitEnd()
    await withTimeout(closed, 5000, 'close handler')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('close frame with code 1005 -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: CLOSE, payload: closePayload(1005) })], 1002)
})

test('close frame with code 999 -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: CLOSE, payload: closePayload(999) })], 1002)
})

test('close frame with code 1006 / 1015 / 5000 -> 1002', T, async () => {
  for (const code of [1006, 1015, 5000]) {
    await expectViolation([encodeFrame({ opcode: CLOSE, payload: closePayload(code) })], 1002)
  }
})

test('close frame with a 1-byte payload -> 1002', T, async () => {
  await expectViolation([encodeFrame({ opcode: CLOSE, payload: Buffer.from([0x03]) })], 1002)
})

test('close frame with invalid UTF-8 reason -> 1007', T, async () => {
  const p = Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])])
  await expectViolation([encodeFrame({ opcode: CLOSE, payload: p })], 1007)
})

test('close frame with valid code 3000 is echoed; handler gets 3000 and the reason', T, async () => {
  const { s, events, closed } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: CLOSE, payload: closePayload(3000, 'fine') }))
    const cf = closeFrameOf(await raw.waitCloseFrame())
    assert.ok(cf, 'no close frame')
    assert.equal(cf.code, 3000)
    await raw.waitEnd()
    await withTimeout(closed, 5000, 'close handler')
    await sleep(100)
    assert.deepEqual(events.closes, [{ code: 3000, reason: 'fine' }])
  } finally {
    raw.destroy()
    s.close()
  }
})

test('empty close frame is answered with a close frame; handler gets 1005', T, async () => {
  const { s, events, closed } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: CLOSE, payload: Buffer.alloc(0) }))
    const cf = closeFrameOf(await raw.waitCloseFrame())
    assert.ok(cf, 'no close frame')
    assert.ok(cf.payload.length === 0 || cf.code === 1000, `reply code ${cf.code}`)
    await raw.waitEnd()
    await withTimeout(closed, 5000, 'close handler')
    assert.deepEqual(events.closes, [{ code: 1005, reason: '' }])
  } finally {
    raw.destroy()
    s.close()
  }
})

test('ping from the client is answered with a pong of the same payload', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    const payload = Buffer.from([0, 1, 2, 250, 251, 0x61])
    await raw.write(encodeFrame({ opcode: PING, payload }))
    await raw.write(encodeFrame({ opcode: PING, payload: Buffer.alloc(0) }))
    await raw.write(encodeFrame({ opcode: PING, payload: Buffer.alloc(125, 0x7a) }))
    const frames = await raw.waitFrames(3)
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('hex')]),
      [
        [PONG, payload.toString('hex')],
        [PONG, ''],
        [PONG, Buffer.alloc(125, 0x7a).toString('hex')],
      ],
    )
    assert.equal(events.messages.length, 0)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('ping handler receives the ping payload (and the pong is still sent)', T, async () => {
  const got = deferred()
  const { s } = recordingServer({
    ping(ws, ab) {
      got.resolve({ isAB: ab instanceof ArrayBuffer, text: Buffer.from(ab).toString() })
    },
  })
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: PING, payload: 'are you there' }))
    assert.deepEqual(await withTimeout(got.promise, 5000, 'ping handler'), { isAB: true, text: 'are you there' })
    const frames = await raw.waitFrames(1)
    assert.equal(frames[0].opcode, PONG)
    assert.equal(frames[0].payload.toString(), 'are you there')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('pong handler receives an unsolicited pong payload', T, async () => {
  const got = deferred()
  const { s } = recordingServer({
    pong(ws, ab) {
      got.resolve(Buffer.from(ab).toString())
    },
  })
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(encodeFrame({ opcode: PONG, payload: 'heartbeat' }))
    assert.equal(await withTimeout(got.promise, 5000, 'pong handler'), 'heartbeat')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('server ws.ping(msg) sends a ping frame with that payload', T, async () => {
  const { s } = recordingServer({
    open(ws) {
      ws.ping('srv-ping')
    },
  })
  const raw = await rawUpgrade(s.port)
  try {
    const frames = await raw.waitFrames(1)
    assert.equal(frames[0].opcode, PING)
    assert.equal(frames[0].payload.toString(), 'srv-ping')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('frames split byte by byte across TCP writes are reassembled', T, async () => {
  const { s, events } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    const frame = encodeFrame({ opcode: TEXT, payload: 'x'.repeat(300) }) // 16-bit length form
    raw.socket.setNoDelay(true)
    for (let i = 0; i < frame.length; i += 37) {
      await raw.write(frame.subarray(i, i + 37))
      if (i < 80) await sleep(2)
    }
    const frames = await raw.waitFrames(1)
    assert.equal(frames[0].payload.toString(), 'x'.repeat(300))
    assert.equal(events.messages.length, 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('data after the client close frame is ignored', T, async () => {
  const { s, events, closed } = recordingServer()
  const raw = await rawUpgrade(s.port)
  try {
    await raw.write(
      Buffer.concat([
        encodeFrame({ opcode: CLOSE, payload: closePayload(1000) }),
        encodeFrame({ opcode: TEXT, payload: 'ghost' }),
      ]),
    )
    await raw.waitCloseFrame()
    await raw.waitEnd()
    await withTimeout(closed, 5000, 'close handler')
    await sleep(50)
    assert.equal(events.messages.length, 0)
    assert.deepEqual(events.closes, [{ code: 1000, reason: '' }])
  } finally {
    raw.destroy()
    s.close()
  }
})
