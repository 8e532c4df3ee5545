'use strict'
// Raw-TCP upgrade handshake checks.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { startServer, rawRequest, upgradeRequest, acceptFor, encodeFrame, RawClient, withTimeout, sleep } = require('./helpers')

const T = { timeout: 15000 }

function server() {
  let opens = 0
  const s = startServer({
    '/*': {
      open() {
        opens++
      },
      message(ws, msg, isBinary) {
        ws.send(msg, isBinary)
      },
    },
  })
  return { s, opens: () => opens }
}

/** Sends `request`, expects an HTTP response with `status`, then the connection to close. */
async function expectStatus(request, status, check) {
  const { s, opens } = server()
  const raw = await rawRequest(s.port, request)
  try {
    assert.equal(raw.status(), status, `response head: ${JSON.stringify(raw.head())}`)
    assert.match(raw.head(), /^HTTP\/1\.1 \d{3} /)
    if (check) check(raw)
    await raw.waitEnd(5000)
    assert.equal(opens(), 0, 'no WebSocket must open')
  } finally {
    raw.destroy()
    s.close()
  }
}

test('valid upgrade: 101 with the headers RFC 6455 requires', T, async () => {
  const { s, opens } = server()
  const key = crypto.randomBytes(16).toString('base64')
  const raw = await rawRequest(s.port, upgradeRequest('/', { key, port: s.port }))
  try {
    assert.equal(raw.status(), 101, raw.head())
    assert.match(raw.head(), /^HTTP\/1\.1 101 /)
    assert.equal(raw.header('upgrade').toLowerCase(), 'websocket')
    assert.ok(raw.header('connection').toLowerCase().split(/\s*,\s*/).includes('upgrade'))
    assert.equal(raw.header('sec-websocket-accept'), acceptFor(key))
    await sleep(50)
    assert.equal(opens(), 1)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('Sec-WebSocket-Accept for the RFC 6455 example key', T, async () => {
  const { s } = server()
  const raw = await rawRequest(s.port, upgradeRequest('/', { key: 'dGhlIHNhbXBsZSBub25jZQ==', port: s.port }))
  try {
    assert.equal(raw.status(), 101)
    assert.equal(raw.header('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('missing Sec-WebSocket-Key -> 400', T, async () => {
  await expectStatus(upgradeRequest('/', { headers: { 'Sec-WebSocket-Key': null } }), 400)
})

test('Sec-WebSocket-Key that is not 16 bytes of base64 -> 400', T, async () => {
  await expectStatus(upgradeRequest('/', { key: Buffer.alloc(15, 1).toString('base64') }), 400)
  await expectStatus(upgradeRequest('/', { key: Buffer.alloc(17, 1).toString('base64') }), 400)
  await expectStatus(upgradeRequest('/', { key: 'not base64 at all!!!!!==' }), 400)
})

test('Sec-WebSocket-Version: 8 -> 426 with Sec-WebSocket-Version: 13', T, async () => {
  await expectStatus(upgradeRequest('/', { headers: { 'Sec-WebSocket-Version': '8' } }), 426, (raw) => {
    assert.equal(raw.header('sec-websocket-version'), '13')
  })
})

test('missing Sec-WebSocket-Version -> 4xx', T, async () => {
  const { s } = server()
  const raw = await rawRequest(s.port, upgradeRequest('/', { headers: { 'Sec-WebSocket-Version': null } }))
  try {
    const st = raw.status()
    assert.ok(st === 400 || st === 426, `status ${st}`)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('POST -> 405', T, async () => {
  await expectStatus(upgradeRequest('/', { method: 'POST' }), 405)
})

test('HTTP/1.0 -> 400', T, async () => {
  await expectStatus(upgradeRequest('/', { version: 'HTTP/1.0' }), 400)
})

test('no Upgrade header -> 4xx', T, async () => {
  const { s, opens } = server()
  const raw = await rawRequest(s.port, upgradeRequest('/', { headers: { Upgrade: null } }))
  try {
    const st = raw.status()
    assert.ok(st >= 400 && st < 500, `status ${st}`)
    await raw.waitEnd()
    assert.equal(opens(), 0)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('Upgrade: h2c (not websocket) -> 4xx', T, async () => {
  const { s } = server()
  const raw = await rawRequest(s.port, upgradeRequest('/', { headers: { Upgrade: 'h2c' } }))
  try {
    const st = raw.status()
    assert.ok(st >= 400 && st < 500, `status ${st}`)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('header block over 16 KiB -> 431', T, async () => {
  const req = upgradeRequest('/', { headers: { 'X-Filler': 'a'.repeat(17 * 1024) } })
  await expectStatus(req, 431)
})

test('header block that never ends over 16 KiB -> 431 without waiting for the end', T, async () => {
  const { s } = server()
  const raw = new RawClient(s.port)
  try {
    await withTimeout(raw.connected, 5000, 'connect')
    raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ')
    // Keep writing header bytes without ever sending \r\n\r\n.
    for (let i = 0; i < 40 && !raw.closed && raw.head() === null; i++) {
      raw.socket.write('b'.repeat(1024))
      await sleep(5)
    }
    await raw.waitHead(5000)
    assert.equal(raw.status(), 431)
  } finally {
    raw.destroy()
    s.close()
  }
})

test('Connection: keep-alive, Upgrade and Upgrade: WebSocket are accepted', T, async () => {
  const { s } = server()
  const key = crypto.randomBytes(16).toString('base64')
  const raw = await rawRequest(
    s.port,
    upgradeRequest('/', { key, headers: { Connection: 'keep-alive, Upgrade', Upgrade: 'WebSocket' } }),
  )
  try {
    assert.equal(raw.status(), 101, raw.head())
    assert.equal(raw.header('sec-websocket-accept'), acceptFor(key))
  } finally {
    raw.destroy()
    s.close()
  }
})

test('header names are case-insensitive', T, async () => {
  const { s } = server()
  const key = crypto.randomBytes(16).toString('base64')
  const req =
    `GET / HTTP/1.1\r\nhost: x\r\nUPGRADE: websocket\r\nconnection: upgrade\r\n` +
    `sec-websocket-key: ${key}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n`
  const raw = await rawRequest(s.port, req)
  try {
    assert.equal(raw.status(), 101, raw.head())
    assert.equal(raw.header('sec-websocket-accept'), acceptFor(key))
  } finally {
    raw.destroy()
    s.close()
  }
})

test('frames sent in the same TCP write as the upgrade request are processed', T, async () => {
  const { s } = server()
  const raw = new RawClient(s.port)
  try {
    await withTimeout(raw.connected, 5000, 'connect')
    await raw.write(
      Buffer.concat([
        Buffer.from(upgradeRequest('/', { port: s.port })),
        encodeFrame({ opcode: 1, payload: 'early bird' }),
        encodeFrame({ opcode: 2, payload: Buffer.from([7, 7]) }),
      ]),
    )
    await raw.waitHead()
    assert.equal(raw.status(), 101)
    const frames = await raw.waitFrames(2)
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('hex')]),
      [
        [1, Buffer.from('early bird').toString('hex')],
        [2, '0707'],
      ],
    )
  } finally {
    raw.destroy()
    s.close()
  }
})

test('request head split across many TCP writes is accepted', T, async () => {
  const { s } = server()
  const key = crypto.randomBytes(16).toString('base64')
  const req = Buffer.from(upgradeRequest('/', { key, port: s.port }))
  const raw = new RawClient(s.port)
  try {
    await withTimeout(raw.connected, 5000, 'connect')
    raw.socket.setNoDelay(true)
    for (let i = 0; i < req.length; i += 10) {
      await raw.write(req.subarray(i, i + 10))
      await sleep(1)
    }
    await raw.waitHead()
    assert.equal(raw.status(), 101)
    assert.equal(raw.header('sec-websocket-accept'), acceptFor(key))
  } finally {
    raw.destroy()
    s.close()
  }
})

test('garbage instead of HTTP -> 400 or close, never a 101', T, async () => {
  const { s, opens } = server()
  const raw = new RawClient(s.port)
  try {
    await withTimeout(raw.connected, 5000, 'connect')
    await raw.write('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n')
    await raw.waitFor((r) => r.closed, 5000, 'close')
    if (raw.head() !== null) assert.equal(raw.status(), 400)
    assert.equal(opens(), 0)
  } finally {
    raw.destroy()
    s.close()
  }
})
