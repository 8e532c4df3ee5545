'use strict'
// The `upgrade(res, req, context)` handler over real sockets.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startServer, openClient, withTimeout, sleep, deferred, RawClient, upgradeRequest, WS } = require('./helpers')

/** Sends an upgrade request on a raw socket; the caller destroys it. */
async function rawSend(port, pathname) {
  const raw = new RawClient(port)
  await withTimeout(raw.connected, 5000, 'TCP connect')
  await raw.write(upgradeRequest(pathname))
  return raw
}

const T = { timeout: 15000 }

/** Resolves with { status, headers, body } for a refused `ws` client. */
function refused(url, options) {
  const c = new WS(url, options)
  const p = new Promise((resolve, reject) => {
    c.once('open', () => reject(new Error('unexpectedly opened')))
    c.once('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
    })
    c.once('error', () => {})
  })
  return withTimeout(p, 5000, 'refusal').finally(() => c.terminate())
}

test('sync upgrade: req getters, userData reaches open, extra 101 headers, subprotocol', T, async () => {
  const seen = deferred()
  const opened = deferred()
  const s = startServer({
    '/chat/:room/*': {
      upgrade(res, req, context) {
        const headers = []
        req.forEach((k, v) => headers.push(k))
        seen.resolve({
          url: req.getUrl(),
          query: req.getQuery(),
          q: req.getQuery('q'),
          method: req.getMethod(),
          caseMethod: req.getCaseSensitiveMethod(),
          room: req.getParameter(0),
          roomByName: req.getParameter('room'),
          custom: req.getHeader('x-custom'),
          hasHost: headers.includes('host'),
        })
        res
          .writeStatus('101 Switching Protocols')
          .writeHeader('x-extra', 'yes')
          .upgrade(
            { user: 'ann' },
            req.getHeader('sec-websocket-key'),
            'two',
            req.getHeader('sec-websocket-extensions'),
            context,
          )
      },
      open(ws) {
        // As uWS.js: the socket is the user data, with its properties copied onto it.
        opened.resolve({ same: ws.getUserData() === ws, user: ws.user, data: { ...ws.getUserData() } })
      },
    },
  })
  let extra
  const c = new WS(s.url('/chat/lobby/x?q=1%202&z'), ['one', 'two'], { headers: { 'X-Custom': 'v' } })
  c.on('upgrade', (res) => (extra = res.headers['x-extra']))
  try {
    await withTimeout(new Promise((r, j) => (c.once('open', r), c.once('error', j))), 5000, 'open')
    assert.deepEqual(await seen.promise, {
      url: '/chat/lobby/x',
      query: 'q=1%202&z',
      q: '1 2',
      method: 'get',
      caseMethod: 'GET',
      room: 'lobby',
      roomByName: 'lobby',
      custom: 'v',
      hasHost: true,
    })
    assert.deepEqual(await withTimeout(opened.promise, 5000, 'open'), { same: true, user: 'ann', data: { user: 'ann' } })
    assert.equal(extra, 'yes')
    assert.equal(c.protocol, 'two')
  } finally {
    c.terminate()
    s.close()
  }
})

test('async upgrade after an await, with onAborted registered', T, async () => {
  const opened = deferred()
  const s = startServer({
    '/*': {
      async upgrade(res, req, context) {
        res.onAborted(() => {})
        const key = req.getHeader('sec-websocket-key')
        await sleep(50)
        res.upgrade({ late: true }, key, '', '', context)
      },
      open: (ws) => opened.resolve({ ...ws.getUserData() }),
      message: (ws, m) => ws.send(m),
    },
  })
  const c = await openClient(s.url())
  try {
    assert.deepEqual(await withTimeout(opened.promise, 5000, 'open'), { late: true })
    const echoed = new Promise((r) => c.once('message', (d) => r(d.toString())))
    c.send('after async')
    assert.equal(await withTimeout(echoed, 5000, 'echo'), 'after async')
  } finally {
    c.terminate()
    s.close()
  }
})

test('reject with 401 and a body; open never runs', T, async () => {
  let opens = 0
  const s = startServer({
    '/*': {
      upgrade(res) {
        res.writeStatus('401 Unauthorized').writeHeader('WWW-Authenticate', 'Bearer').end('who are you?')
      },
      open: () => opens++,
    },
  })
  try {
    const r = await refused(s.url())
    assert.equal(r.status, 401)
    assert.equal(r.headers['www-authenticate'], 'Bearer')
    assert.equal(r.body, 'who are you?')
    await sleep(50)
    assert.equal(opens, 0)
  } finally {
    s.close()
  }
})

test('res.close() drops the connection without a response', T, async () => {
  const s = startServer({ '/*': { upgrade: (res) => res.close() } })
  const raw = await rawSend(s.port, '/')
  try {
    await raw.waitEnd()
    assert.equal(raw.data.length, 0, 'no response bytes')
  } finally {
    raw.destroy()
    s.close()
  }
})

test('client leaves while the answer is pending: onAborted fires, a late upgrade throws a JS error', T, async () => {
  const aborted = deferred()
  const late = deferred()
  const s = startServer({
    '/*': {
      upgrade(res, req, context) {
        const key = req.getHeader('sec-websocket-key')
        res.onAborted(() => {
          aborted.resolve(true)
          setTimeout(() => {
            // uWS.js aborts the process here; rsws throws a JS error instead.
            try {
              res.upgrade({}, key, '', '', context)
              late.resolve('no error')
            } catch (err) {
              late.resolve(err.message)
            }
          }, 10)
        })
      },
    },
  })
  const raw = await rawSend(s.port, '/')
  try {
    await sleep(100)
    raw.destroy()
    assert.equal(await withTimeout(aborted.promise, 5000, 'onAborted'), true)
    assert.match(await withTimeout(late.promise, 5000, 'late upgrade'), /answered or aborted/)
  } finally {
    s.close()
  }
})

test('a handler that never answers does not abort: the request stays pending, others are served', T, async () => {
  const s = startServer({
    '/silent': { upgrade() {} },
    '/*': { message: (ws, m) => ws.send(m) },
  })
  const pending = await rawSend(s.port, '/silent')
  try {
    await sleep(300)
    assert.equal(pending.data.length, 0, 'no response while the handler has not answered')
    const c = await openClient(s.url('/other'))
    const echoed = new Promise((r) => c.once('message', (d) => r(d.toString())))
    c.send('still serving')
    assert.equal(await withTimeout(echoed, 5000, 'echo'), 'still serving')
    c.terminate()
  } finally {
    pending.destroy()
    s.close()
  }
})

test('unmatched upgrade path gets 404', T, async () => {
  const s = startServer({ '/only': {} })
  try {
    const r = await refused(s.url('/elsewhere'))
    assert.equal(r.status, 404)
  } finally {
    s.close()
  }
})

test('without an upgrade handler the first subprotocol offered is selected (ws and the global WebSocket)', T, async () => {
  const s = startServer({ '/*': { message: (ws, m, isBinary) => ws.send(m, isBinary) } })
  try {
    const offered = await openClient(s.url(), ['chat', 'superchat'])
    assert.equal(offered.protocol, 'chat')
    offered.terminate()
    const none = await openClient(s.url())
    assert.equal(none.protocol, '')
    none.terminate()

    // A browser-like client fails the connection when it offered protocols and got none
    // (Node's global WebSocket: Node 22 and later).
    if (typeof WebSocket !== 'undefined') {
      const g = new WebSocket(s.url(), ['v2.proto', 'v1.proto'])
      const opened = deferred()
      g.onopen = () => opened.resolve(g.protocol)
      g.onerror = () => opened.reject(new Error('global WebSocket failed to open'))
      assert.equal(await withTimeout(opened.promise, 5000, 'global WebSocket open'), 'v2.proto')
      g.close()
    }
  } finally {
    s.close()
  }
})

test('the socket is its user data (as uWS.js): copied properties, any key, JSON, properties set later', T, async () => {
  const seen = deferred()
  const s = startServer({
    '/*': {
      upgrade(res, req, context) {
        // A primitive is refused (uWS.js crashes on one); an object is copied onto the socket.
        let refused = ''
        try {
          res.upgrade('text', req.getHeader('sec-websocket-key'), '', '', context)
        } catch (err) {
          refused = `${err.name}: ${err.message}`
        }
        // Keys named like rsws's own state must not disturb it.
        const userData = { _id: 'u1', _closed: 'mine', id: 7, room: req.getUrl() }
        res.upgrade(userData, req.getHeader('sec-websocket-key'), '', '', context)
        userData.room = 'changed after the upgrade'
        seen.refused = refused
      },
      open(ws) {
        ws.joined = true
      },
      message(ws, m) {
        seen.resolve({
          same: ws.getUserData() === ws,
          keys: Object.keys(ws),
          json: JSON.stringify(ws.getUserData()),
          room: ws.room,
          status: ws.send(m),
        })
      },
    },
  })
  const c = await openClient(s.url('/lobby'))
  try {
    const echoed = new Promise((r) => c.once('message', (d) => r(d.toString())))
    c.send('hi')
    assert.deepEqual(await withTimeout(seen.promise, 5000, 'message'), {
      same: true,
      keys: ['_id', '_closed', 'id', 'room', 'joined'],
      json: '{"_id":"u1","_closed":"mine","id":7,"room":"/lobby","joined":true}',
      room: '/lobby',
      status: 1,
    })
    assert.equal(seen.refused, 'TypeError: userData must be an object')
    assert.equal(await withTimeout(echoed, 5000, 'echo'), 'hi')
  } finally {
    c.terminate()
    s.close()
  }
})
