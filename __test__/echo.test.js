'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, openClient, collect, closeAll, waitClose, withTimeout, deferred, sleep, BIG_BACKPRESSURE } = require('./helpers')

const T = { timeout: 15000 }

function echoServer(extra = {}) {
  return startServer({
    '/*': {
      message(ws, msg, isBinary) {
        ws.send(msg, isBinary)
      },
      ...extra,
    },
  })
}

test('text echo arrives as a text frame', T, async () => {
  const seen = []
  const s = startServer({
    '/*': {
      message(ws, msg, isBinary) {
        seen.push({ text: Buffer.from(msg).toString(), isBinary })
        ws.send(msg, isBinary)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('héllo wörld ✓')
    const [m] = await collect(c, 1)
    assert.equal(m.isBinary, false)
    assert.equal(m.data.toString(), 'héllo wörld ✓')
    assert.deepEqual(seen, [{ text: 'héllo wörld ✓', isBinary: false }])
  } finally {
    c.terminate()
    s.close()
  }
})

test('binary echo arrives as a binary frame', T, async () => {
  const seen = []
  const s = startServer({
    '/*': {
      message(ws, msg, isBinary) {
        assert.ok(msg instanceof ArrayBuffer)
        seen.push({ bytes: [...new Uint8Array(msg)], isBinary })
        ws.send(msg, isBinary)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send(Buffer.from([0, 1, 2, 0xff, 0xfe]))
    const [m] = await collect(c, 1)
    assert.equal(m.isBinary, true)
    assert.deepEqual([...m.data], [0, 1, 2, 0xff, 0xfe])
    assert.deepEqual(seen, [{ bytes: [0, 1, 2, 0xff, 0xfe], isBinary: true }])
  } finally {
    c.terminate()
    s.close()
  }
})

test('send() accepts string, ArrayBuffer, Uint8Array, Buffer, DataView, offset Float64Array', T, async () => {
  const f64 = new Float64Array([1.5, -2.25, Math.PI, 1e300])
  const sub = f64.subarray(1, 3) // byteOffset 8, 16 bytes
  assert.equal(sub.byteOffset, 8)
  const u8 = new Uint8Array([9, 8, 7, 6, 5])
  const backing = new Uint8Array([100, 101, 102, 103, 104, 105, 106, 107]).buffer
  const dv = new DataView(backing, 2, 4) // 102..105
  const bufOff = Buffer.from('xxABCDxx').subarray(2, 6) // 'ABCD' from a view with an offset
  const cases = [
    ['string', () => 'plain string ü', false, Buffer.from('plain string ü')],
    ['ArrayBuffer', () => new Uint8Array([1, 2, 3]).buffer, true, Buffer.from([1, 2, 3])],
    ['Uint8Array', () => u8, true, Buffer.from([9, 8, 7, 6, 5])],
    ['Buffer', () => bufOff, true, Buffer.from('ABCD')],
    ['DataView', () => dv, true, Buffer.from([102, 103, 104, 105])],
    ['Float64Array subarray', () => sub, true, Buffer.from(sub.buffer, sub.byteOffset, sub.byteLength)],
  ]
  const s = startServer({
    '/*': {
      open(ws) {
        for (const [, make, isBinary] of cases) ws.send(make(), isBinary)
      },
    },
  })
  const c = new (require('ws'))(s.url())
  try {
    const msgs = await collect(c, cases.length)
    cases.forEach(([name, , isBinary, expected], i) => {
      assert.equal(msgs[i].isBinary, isBinary, `${name}: isBinary`)
      assert.deepEqual([...msgs[i].data], [...expected], `${name}: bytes`)
    })
    // The Float64Array values survive the round trip.
    const back = new Float64Array(new Uint8Array(msgs[5].data).buffer)
    assert.deepEqual([...back], [-2.25, Math.PI])
  } finally {
    c.terminate()
    s.close()
  }
})

test('send() of a Buffer as text (isBinary false) arrives as a text frame', T, async () => {
  const s = startServer({
    '/*': {
      open(ws) {
        ws.send(Buffer.from('text from buffer'), false)
        ws.send('bin from string', true)
      },
    },
  })
  const c = new (require('ws'))(s.url())
  try {
    const [a, b] = await collect(c, 2)
    assert.equal(a.isBinary, false)
    assert.equal(a.data.toString(), 'text from buffer')
    assert.equal(b.isBinary, true)
    assert.equal(b.data.toString(), 'bin from string')
  } finally {
    c.terminate()
    s.close()
  }
})

test('empty text and binary messages', T, async () => {
  const seen = []
  const s = startServer({
    '/*': {
      message(ws, msg, isBinary) {
        seen.push({ len: msg.byteLength, isBinary })
        ws.send(msg, isBinary)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('')
    c.send(Buffer.alloc(0))
    c.send('after')
    const msgs = await collect(c, 3)
    assert.deepEqual(
      msgs.map((m) => ({ len: m.data.length, isBinary: m.isBinary })),
      [
        { len: 0, isBinary: false },
        { len: 0, isBinary: true },
        { len: 5, isBinary: false },
      ],
    )
    assert.deepEqual(seen, [
      { len: 0, isBinary: false },
      { len: 0, isBinary: true },
      { len: 5, isBinary: false },
    ])
  } finally {
    c.terminate()
    s.close()
  }
})

test('1 MiB binary and 1 MiB multi-byte text messages echo intact', T, async () => {
  const s = echoServer({ maxPayloadLength: 2 * 1024 * 1024, maxBackpressure: BIG_BACKPRESSURE })
  const c = await openClient(s.url())
  try {
    const bin = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 31 + (i >> 8)) & 0xff
    // 'aé€😀' is 1 + 2 + 3 + 4 = 10 bytes; repeat to ~1 MiB.
    const text = 'aé€😀'.repeat(104857) + 'xyzw12'
    assert.equal(Buffer.byteLength(text), 1024 * 1024)
    c.send(bin)
    c.send(text)
    const [a, b] = await collect(c, 2)
    assert.equal(a.isBinary, true)
    assert.equal(a.data.length, bin.length)
    assert.ok(a.data.equals(bin), 'binary payload differs')
    assert.equal(b.isBinary, false)
    assert.equal(b.data.length, 1024 * 1024)
    assert.ok(b.data.toString() === text, 'text payload differs')
  } finally {
    c.terminate()
    s.close()
  }
})

test('10 000 messages on one connection arrive in order', T, async () => {
  const N = 10000
  let serverSeq = 0
  let outOfOrder = 0
  const s = startServer({
    '/*': {
      maxBackpressure: BIG_BACKPRESSURE,
      message(ws, msg, isBinary) {
        const n = Number(Buffer.from(msg).toString())
        if (n !== serverSeq) outOfOrder++
        serverSeq++
        ws.send(msg, isBinary)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, N, 12000)
    for (let i = 0; i < N; i++) c.send(String(i))
    const msgs = await got
    const firstBad = msgs.findIndex((m, i) => m.data.toString() !== String(i))
    assert.equal(firstBad, -1, `message ${firstBad} out of order`)
    assert.equal(serverSeq, N)
    assert.equal(outOfOrder, 0)
  } finally {
    c.terminate()
    s.close()
  }
})

test('10 000 server-initiated sends in one handler arrive in order', T, async () => {
  const N = 10000
  const s = startServer({
    '/*': {
      maxBackpressure: BIG_BACKPRESSURE,
      message(ws) {
        for (let i = 0; i < N; i++) ws.send(`m${i}`)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const got = collect(c, N, 12000)
    c.send('go')
    const msgs = await got
    const firstBad = msgs.findIndex((m, i) => m.data.toString() !== `m${i}`)
    assert.equal(firstBad, -1, `message ${firstBad} out of order`)
  } finally {
    c.terminate()
    s.close()
  }
})

test('the message ArrayBuffer stays valid after the handler returns', T, async () => {
  const done = deferred()
  const kept = []
  const s = startServer({
    '/*': {
      maxPayloadLength: 1024 * 1024,
      message(ws, msg, isBinary) {
        kept.push({ msg, isBinary })
        if (kept.length === 3) {
          setTimeout(() => {
            try {
              const out = kept.map(({ msg, isBinary }) => ({
                len: msg.byteLength,
                bytes: Buffer.from(new Uint8Array(msg)).toString('hex'),
                isBinary,
              }))
              done.resolve(out)
            } catch (err) {
              done.reject(err)
            }
          }, 50)
        }
      },
    },
  })
  const c = await openClient(s.url())
  try {
    c.send('first text')
    c.send(Buffer.from([1, 2, 3, 4]))
    c.send(Buffer.alloc(100 * 1024, 7)) // large path
    const out = await withTimeout(done.promise, 5000, 'kept messages')
    assert.deepEqual(out[0], { len: 10, bytes: Buffer.from('first text').toString('hex'), isBinary: false })
    assert.deepEqual(out[1], { len: 4, bytes: '01020304', isBinary: true })
    assert.equal(out[2].len, 100 * 1024)
    assert.equal(out[2].bytes, Buffer.alloc(100 * 1024, 7).toString('hex'))
  } finally {
    c.terminate()
    s.close()
  }
})

test('echo from the server to a client that closes normally', T, async () => {
  const s = echoServer()
  const c = await openClient(s.url())
  try {
    c.send('x')
    await collect(c, 1)
    c.close(1000)
    const { code } = await waitClose(c)
    assert.equal(code, 1000)
  } finally {
    c.terminate()
    s.close()
  }
})

test('mixed small and large (>= 8 KiB, >= 64 KiB) messages keep their order both ways', T, async () => {
  const sizes = [5, 70 * 1024, 3, 200 * 1024, 0, 64 * 1024, 64 * 1024 - 1, 10, 300 * 1024, 1, 8 * 1024, 8 * 1024 - 1, 2, 9000, 16 * 1024]
  const order = []
  const s = startServer({
    '/*': {
      maxPayloadLength: 1024 * 1024,
      maxBackpressure: BIG_BACKPRESSURE,
      message(ws, msg, isBinary) {
        order.push(msg.byteLength)
        ws.send(msg, isBinary)
      },
    },
  })
  const c = await openClient(s.url())
  try {
    const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1))
    const got = collect(c, sizes.length)
    for (const p of payloads) c.send(p)
    const msgs = await got
    assert.deepEqual(order, sizes)
    assert.deepEqual(
      msgs.map((m) => m.data.length),
      sizes,
    )
    msgs.forEach((m, i) => assert.ok(m.data.equals(payloads[i]), `payload ${i} differs`))
  } finally {
    c.terminate()
    s.close()
  }
})

test('server sends mixing small, large strings and large buffers in one handler keep order', T, async () => {
  const big = Buffer.alloc(100 * 1024, 0x42)
  const bigText = 'é'.repeat(50 * 1024) // 100 KiB of UTF-8
  const s = startServer({
    '/*': {
      maxBackpressure: BIG_BACKPRESSURE,
      open(ws) {
        ws.send('a')
        ws.send(big, true)
        ws.send('b')
        ws.send(bigText)
        ws.cork(() => {
          ws.send('c')
          ws.send(big, true)
        })
        ws.send('d')
      },
    },
  })
  const c = new (require('ws'))(s.url())
  try {
    const msgs = await collect(c, 7)
    assert.deepEqual(
      msgs.map((m) => (m.data.length > 10 ? `${m.isBinary ? 'bin' : 'txt'}:${m.data.length}` : m.data.toString())),
      ['a', `bin:${big.length}`, 'b', `txt:${Buffer.byteLength(bigText)}`, 'c', `bin:${big.length}`, 'd'],
    )
    assert.ok(msgs[1].data.equals(big))
    assert.equal(msgs[3].data.toString(), bigText)
  } finally {
    c.terminate()
    s.close()
  }
})

test('large messages from several connections in one batch go to the right sockets', T, async () => {
  const s = echoServer({ maxPayloadLength: 1024 * 1024, maxBackpressure: BIG_BACKPRESSURE })
  const clients = []
  try {
    for (let i = 0; i < 8; i++) clients.push(await openClient(s.url()))
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const got = collect(c, 3)
        c.send(Buffer.alloc(80 * 1024, i))
        c.send(`small ${i}`)
        c.send(Buffer.alloc(90 * 1024, 100 + i))
        return got
      }),
    )
    results.forEach((msgs, i) => {
      assert.ok(msgs[0].data.equals(Buffer.alloc(80 * 1024, i)), `client ${i} first`)
      assert.equal(msgs[1].data.toString(), `small ${i}`)
      assert.ok(msgs[2].data.equals(Buffer.alloc(90 * 1024, 100 + i)), `client ${i} third`)
    })
  } finally {
    for (const c of clients) c.terminate()
    s.close()
  }
})

test('app.close() from a message handler closes every socket, also those whose OPEN comes later in the batch', T, async () => {
  // The route has no open handler, so each socket's OPEN record comes with its first
  // message: most are still ahead in the batch when the first handler closes the App.
  const seen = new Map() // ws -> fills of the large messages it got
  const closes = []
  let broken = 0
  let closing = false
  const s = startServer({
    '/*': {
      maxPayloadLength: 1024 * 1024,
      maxBackpressure: BIG_BACKPRESSURE,
      message: (ws, msg) => {
        const bytes = new Uint8Array(msg)
        if (bytes.some((b) => b !== bytes[0])) broken++
        if (!seen.has(ws)) seen.set(ws, [])
        seen.get(ws).push(bytes[0])
        if (!closing) {
          closing = true
          // Let the I/O threads queue more, then take the rest of the queue from inside
          // this batch: its large payloads come with a handle of their own.
          const until = Date.now() + 30
          while (Date.now() < until);
          s.app.close()
        }
      },
      close: (ws, code) => closes.push(code),
    },
  })
  const clients = []
  try {
    for (let i = 0; i < 6; i++) clients.push(await openClient(s.url()))
    const closed = clients.map((c) => new Promise((r) => c.once('close', r)))
    clients.forEach((c, i) => {
      for (let k = 0; k < 3; k++) c.send(Buffer.alloc(40 * 1024 + k, i * 16 + k))
    })
    await withTimeout(Promise.all(closed), 5000, 'every socket closed by app.close()')
    assert.deepEqual(closes, Array(6).fill(1006), 'every close handler ran, with 1006')
    assert.equal(broken, 0, 'every message whole')
    assert.ok(seen.size >= 1)
    for (const fills of seen.values()) {
      assert.equal(new Set(fills.map((f) => f >> 4)).size, 1, `one client's messages per socket: ${fills}`)
      const ks = fills.map((f) => f & 15)
      assert.deepEqual(ks, [...ks].sort(), `in order: ${fills}`)
    }
  } finally {
    closeAll(clients)
    s.close()
  }
})

test('send() statuses: 1 when written, 0 when the socket did not take it all, 2 dropped past maxBackpressure (default 64 KiB)', T, async () => {
  // As uWS.js: the status says what the socket took, so the big message must be larger
  // than loopback's socket buffers (a few MiB) to be left partly queued.
  const BIG = 32 * 1024 * 1024
  const statuses = deferred()
  const s = startServer({
    '/*': {
      open(ws) {
        try {
          const small = ws.send('small')
          const big = ws.send(Buffer.alloc(BIG, 3), true)
          const buffered = ws.getBufferedAmount()
          const dropped = ws.send('dropped')
          statuses.resolve({ small, big, dropped, buffered })
        } catch (err) {
          statuses.reject(err)
        }
      },
    },
  })
  const c = new (require('ws'))(s.url())
  const got = []
  c.on('message', (d, isBinary) => got.push(isBinary ? `bin:${d.length}` : d.toString()))
  try {
    const r = await withTimeout(statuses.promise, 5000, 'open')
    assert.equal(r.small, 1, 'small send status')
    assert.equal(r.big, 0, 'send the socket did not take whole (BACKPRESSURE)')
    // What is queued, counted once: at most the frame (it was counted twice until the
    // next turn, as the bytes packed in JS and again as queued in Rust).
    assert.ok(r.buffered > 64 * 1024 && r.buffered <= BIG + 10, `getBufferedAmount ${r.buffered}`)
    assert.equal(r.dropped, 2, 'send while over the limit status (DROPPED)')
    await withTimeout(
      (async () => {
        while (got.length < 2) await sleep(10)
      })(),
      5000,
      () => `2 messages (got ${JSON.stringify(got)})`,
    )
    await sleep(100)
    assert.deepEqual(got, ['small', `bin:${BIG}`])
  } finally {
    c.terminate()
    s.close()
  }
})

test('maxBackpressure: 0 disables dropping', T, async () => {
  const statuses = []
  const s = startServer({
    '/*': {
      maxBackpressure: 0,
      open(ws) {
        statuses.push(ws.send(Buffer.alloc(300 * 1024, 1), true))
        statuses.push(ws.send('still sent'))
      },
    },
  })
  const c = new (require('ws'))(s.url())
  try {
    const msgs = await collect(c, 2)
    assert.equal(msgs[0].data.length, 300 * 1024)
    assert.equal(msgs[1].data.toString(), 'still sent')
    assert.ok(!statuses.includes(2), `statuses ${statuses}`)
  } finally {
    c.terminate()
    s.close()
  }
})

test('a burst of mixed sizes to a client that is not reading arrives complete and in order', T, async () => {
  // Payloads of 8 KiB and more are written vectored from the flushed buffer; what the
  // socket does not take is queued. Mixed with small frames, text and binary, in one turn.
  const sizes = []
  for (let i = 0; i < 300; i++) sizes.push(i % 3 === 0 ? 10 + i : 8 * 1024 + ((i * 977) % 40000))
  const payload = (i, n) => Buffer.alloc(n, i & 0xff)
  const server = startServer({
    '/*': {
      maxBackpressure: BIG_BACKPRESSURE,
      message(ws) {
        for (let i = 0; i < sizes.length; i++) {
          if (i % 2 === 0) ws.send(payload(i, sizes[i]), true)
          else ws.send(payload(i, sizes[i]).toString('latin1').replace(/[^\x00-\x7f]/g, 'a'), false)
        }
      },
    },
  })
  try {
    const client = await openClient(server.url())
    client._socket.pause()
    client.send('go')
    await sleep(300)
    const got = collect(client, sizes.length, 10000)
    client._socket.resume()
    const messages = await got
    messages.forEach(({ data, isBinary }, i) => {
      assert.equal(isBinary, i % 2 === 0, `message ${i} type`)
      assert.equal(data.length, sizes[i], `message ${i} length`)
      const want = i % 2 === 0 ? i & 0xff : (i & 0xff) < 0x80 ? i & 0xff : 0x61
      assert.ok(data.every((b) => b === want), `message ${i} content`)
    })
    client.close()
  } finally {
    server.close()
  }
})

test('a backlog larger than the event inbox (256 KiB) arrives whole and in order on every socket', T, async () => {
  // The first message blocks the JS thread while the rest queue up in Rust: the queue is
  // then taken in pieces of whole records, each with the large (>= 8 KiB)
  // payloads of its own records.
  const sizeOf = (i) => (i % 1000 === 999 ? 200 * 1024 : i % 500 === 250 ? 16 * 1024 : i % 7 === 3 ? 0 : 20)
  let blocked = false
  const s = startServer({
    '/*': {
      maxPayloadLength: 1024 * 1024,
      maxBackpressure: BIG_BACKPRESSURE,
      message(ws, msg, isBinary) {
        if (!blocked) {
          blocked = true
          const until = Date.now() + 300
          while (Date.now() < until);
        }
        ws.send(msg, isBinary)
      },
    },
  })
  const clients = await Promise.all([0, 1, 2].map(() => openClient(s.url())))
  try {
    const perClient = 4000
    const expected = clients.map((_, c) =>
      Array.from({ length: perClient }, (_, i) => {
        const p = Buffer.alloc(sizeOf(i), (c * 50 + i) & 0xff)
        if (p.length >= 8) p.writeUInt32BE(c * 100000 + i, 0)
        return p
      }),
    )
    const got = clients.map((c) => collect(c, perClient, 20000))
    clients.forEach((c, i) => expected[i].forEach((p) => c.send(p)))
    const all = await Promise.all(got)
    all.forEach((msgs, c) => {
      assert.deepEqual(
        msgs.map((m) => m.data.length),
        expected[c].map((p) => p.length),
      )
      msgs.forEach((m, i) => assert.ok(m.data.equals(expected[c][i]), `client ${c} message ${i} differs`))
    })
  } finally {
    closeAll(clients)
    s.close()
  }
})
