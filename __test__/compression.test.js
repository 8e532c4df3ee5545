'use strict'
// permessage-deflate (RFC 7692): negotiation, compressed sends and publishes, limits.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const zlib = require('node:zlib')
const {
  rsws,
  WS,
  startServer,
  collect,
  waitClose,
  withTimeout,
  deferred,
  RawClient,
  BIG_BACKPRESSURE,
  upgradeRequest,
  encodeFrame,
  decodeFrames,
} = require('./helpers')

const T = { timeout: 20000 }
const { SHARED_COMPRESSOR, SHARED_DECOMPRESSOR, DEDICATED_COMPRESSOR, DEDICATED_DECOMPRESSOR } = rsws

/** Opens a `ws` client; resolves with it and the extension header the server sent. */
function open(url, options = {}) {
  const c = new WS(url, { perMessageDeflate: true, ...options })
  let extensions
  c.on('upgrade', (res) => (extensions = res.headers['sec-websocket-extensions']))
  return withTimeout(
    new Promise((resolve, reject) => {
      c.once('open', () => resolve({ c, extensions }))
      c.once('error', reject)
    }),
    5000,
    'open',
  )
}

/** A raw client that offers permessage-deflate; resolves after the 101. */
async function rawDeflate(port, offer = 'permessage-deflate; client_max_window_bits') {
  const raw = new RawClient(port)
  await withTimeout(raw.connected, 5000, 'connect')
  await raw.write(upgradeRequest('/', { headers: { 'Sec-WebSocket-Extensions': offer } }))
  await raw.waitHead()
  return raw
}

/** A message compressed as permessage-deflate sends it: raw deflate, trailer removed. */
function deflateMessage(buf) {
  const out = zlib.deflateRawSync(buf, { flush: zlib.constants.Z_SYNC_FLUSH })
  return out.subarray(0, out.length - 4)
}

test('the uWS.js CompressOptions constants are exported with their values', () => {
  assert.equal(rsws.DISABLED, 0)
  assert.equal(SHARED_COMPRESSOR, 1)
  assert.equal(SHARED_DECOMPRESSOR, 256)
  assert.equal(rsws.DEDICATED_COMPRESSOR_3KB, 145)
  assert.equal(rsws.DEDICATED_COMPRESSOR_256KB, 248)
  assert.equal(DEDICATED_COMPRESSOR, 248)
  assert.equal(rsws.DEDICATED_DECOMPRESSOR_512B, 2304)
  assert.equal(DEDICATED_DECOMPRESSOR, 3840)
})

for (const [name, compression] of [
  ['shared', SHARED_COMPRESSOR | SHARED_DECOMPRESSOR],
  ['dedicated', DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR],
]) {
  test(`${name}: negotiated with the ws client, compressed echo both ways`, T, async () => {
    const s = startServer({
      '/*': {
        compression,
        maxPayloadLength: 1 << 20,
        maxBackpressure: BIG_BACKPRESSURE,
        message: (ws, m, isBinary) => ws.send(m, isBinary, true),
      },
    })
    const { c, extensions } = await open(s.url())
    try {
      assert.match(extensions, /^permessage-deflate/)
      if (name === 'shared') assert.match(extensions, /server_no_context_takeover/)
      const big = 'abcdefgh'.repeat(50000)
      const got = collect(c, 4)
      c.send('hello')
      c.send(big)
      c.send(Buffer.from([1, 2, 3]))
      c.send(big)
      const msgs = await got
      assert.deepEqual(
        msgs.map((m) => [m.isBinary, m.data.length]),
        [
          [false, 5],
          [false, big.length],
          [true, 3],
          [false, big.length],
        ],
      )
      assert.equal(msgs[1].data.toString(), big)
      assert.equal(msgs[3].data.toString(), big)
    } finally {
      c.terminate()
      s.close()
    }
  })
}

test('a client asking for a smaller server window gets it (uWS.js #233)', T, async () => {
  const s = startServer({
    '/*': { compression: DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR, maxPayloadLength: 1 << 20, message: (ws, m) => ws.send(m, false, true) },
  })
  const { c, extensions } = await open(s.url(), { perMessageDeflate: { serverMaxWindowBits: 10 } })
  try {
    assert.match(extensions, /server_max_window_bits=10/)
    const text = 'the quick brown fox '.repeat(5000)
    const got = collect(c, 1)
    c.send(text)
    assert.equal((await got)[0].data.toString(), text)
  } finally {
    c.terminate()
    s.close()
  }
})

test('compression disabled: the offer is ignored', T, async () => {
  const s = startServer({ '/*': {} })
  const { c, extensions } = await open(s.url())
  try {
    assert.equal(extensions, undefined)
  } finally {
    c.terminate()
    s.close()
  }
})

test('upgrade handler: the extensions passed to res.upgrade are negotiated', T, async () => {
  const s = startServer({
    '/*': {
      compression: SHARED_COMPRESSOR,
      upgrade: (res, req, context) =>
        res.upgrade({}, req.getHeader('sec-websocket-key'), '', req.getHeader('sec-websocket-extensions'), context),
    },
  })
  const { c, extensions } = await open(s.url())
  try {
    assert.match(extensions, /^permessage-deflate/)
  } finally {
    c.terminate()
    s.close()
  }
})

test('deflate bomb: a small frame inflating past maxPayloadLength closes with 1009', T, async () => {
  const closed = deferred()
  const s = startServer({
    '/*': { compression: SHARED_DECOMPRESSOR, maxPayloadLength: 64 * 1024, close: (ws, code) => closed.resolve(code) },
  })
  const raw = await rawDeflate(s.port)
  try {
    assert.equal(raw.status(), 101)
    const bomb = deflateMessage(Buffer.alloc(50 * 1024 * 1024))
    assert.ok(bomb.length < 100 * 1024, `bomb is ${bomb.length} bytes`)
    const before = process.memoryUsage().rss
    await raw.write(encodeFrame({ opcode: 2, rsv: 4, payload: bomb }))
    assert.equal(await withTimeout(closed.promise, 5000, 'server close'), 1009)
    const frames = await raw.waitFor((r) => decodeFrames(r.body()).frames.length > 0)
    const close = decodeFrames(frames.body()).frames[0]
    assert.equal(close.opcode, 8)
    assert.equal(close.payload.readUInt16BE(0), 1009)
    assert.ok(process.memoryUsage().rss - before < 32 * 1024 * 1024, 'the bomb was not inflated whole')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('corrupt compressed data closes with 1007', T, async () => {
  const closed = deferred()
  const s = startServer({ '/*': { compression: SHARED_DECOMPRESSOR, close: (ws, code) => closed.resolve(code) } })
  const raw = await rawDeflate(s.port)
  try {
    await raw.write(encodeFrame({ opcode: 1, rsv: 4, payload: Buffer.from([0xff, 0xff, 0xff, 0x00, 0x12]) }))
    assert.equal(await withTimeout(closed.promise, 5000, 'server close'), 1007)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('publish(compress): compressed once for deflate subscribers, plain for the others', T, async () => {
  let subscribers = 0
  const ready = deferred()
  const s = startServer({
    '/*': {
      compression: SHARED_COMPRESSOR,
      open: (ws) => {
        ws.subscribe('news')
        if (++subscribers === 2) ready.resolve()
      },
    },
  })
  const raw = await rawDeflate(s.port, 'permessage-deflate')
  const plain = await open(s.url(), { perMessageDeflate: false })
  try {
    await withTimeout(ready.promise, 5000, 'subscribers')
    const text = 'news! '.repeat(1000)
    const got = collect(plain.c, 1)
    assert.equal(s.app.publish('news', text, false, true), true)
    assert.equal((await got)[0].data.toString(), text)
    await raw.waitFor((r) => decodeFrames(r.body()).frames.length > 0)
    const [frame] = decodeFrames(raw.body()).frames
    assert.equal(frame.rsv & 4, 4, 'RSV1 set: compressed')
    assert.ok(frame.payload.length < text.length / 10)
    assert.equal(zlib.inflateRawSync(frame.payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString(), text)
  } finally {
    raw.destroy()
    plain.c.terminate()
    s.close()
  }
})

test('a peer closing mid-compressed stream never takes the server down', T, async () => {
  const s = startServer({ '/*': { compression: DEDICATED_DECOMPRESSOR, message: (ws, m) => ws.send(m) } })
  const raw = await rawDeflate(s.port)
  const half = deflateMessage(Buffer.from('x'.repeat(10000)))
  await raw.write(encodeFrame({ opcode: 1, rsv: 4, fin: false, payload: half.subarray(0, 10) }))
  raw.destroy()
  const { c } = await open(s.url())
  try {
    const got = collect(c, 1)
    c.send('alive')
    assert.equal((await got)[0].data.toString(), 'alive')
    c.close()
    await waitClose(c)
  } finally {
    s.close()
  }
})

test('publish(compress) to many: one compressed frame for all, whatever each socket sent before', T, async () => {
  const byPort = new Map()
  const ready = deferred()
  const text = 'the same news for everyone, '.repeat(200)
  const s = startServer({
    '/*': {
      // Dedicated compressors keep a context per socket: compressing per subscriber would
      // give a socket that was already sent `text` a different (smaller) frame.
      compression: DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR,
      maxPayloadLength: 1 << 20,
      open: (ws) => {
        ws.subscribe('news')
        byPort.set(ws.getRemotePort(), ws)
        if (byPort.size === 3) ready.resolve()
      },
    },
  })
  const primed = await rawDeflate(s.port, 'permessage-deflate')
  const fresh = await rawDeflate(s.port, 'permessage-deflate')
  const { c } = await open(s.url())
  try {
    await withTimeout(ready.promise, 5000, 'subscribers')
    byPort.get(primed.socket.localPort).send(text, false, true)
    await primed.waitFor((r) => decodeFrames(r.body()).frames.length === 1)
    // The `ws` client keeps its context: its socket was sent `other`, then the publish,
    // then `other` again, which must not refer back past the publish it never compressed.
    const other = 'something else entirely, '.repeat(200)
    const before = collect(c, 1)
    byPort.get(c._socket.localPort).send(other, false, true)
    await before
    const got = collect(c, 2)
    assert.equal(s.app.publish('news', text, false, true), true)
    byPort.get(c._socket.localPort).send(other, false, true)
    const [news, after] = (await got).map((m) => m.data.toString())
    assert.ok(news === text, 'the publish arrives intact')
    assert.ok(after === other, 'the message after the publish inflates to what was sent')
    await primed.waitFor((r) => decodeFrames(r.body()).frames.length === 2)
    await fresh.waitFor((r) => decodeFrames(r.body()).frames.length === 1)
    const published = decodeFrames(primed.body()).frames[1]
    assert.equal(published.rsv & 4, 4)
    assert.deepEqual(published.payload, decodeFrames(fresh.body()).frames[0].payload)
  } finally {
    primed.destroy()
    fresh.destroy()
    c.terminate()
    s.close()
  }
})
