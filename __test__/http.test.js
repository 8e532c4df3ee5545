'use strict'
// HTTP routes (app.get/post/.../any) over real sockets: fetch, node:http, raw TCP and curl.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { execFile, execFileSync } = require('node:child_process')
const { App, us_listen_socket_close, us_socket_local_port } = require('..')
const { REPO, openClient, collect, withTimeout, sleep, deferred, RawClient, spawnScript } = require('./helpers')

const T = { timeout: 20000 }

let curlPath = null
try {
  curlPath = execFileSync('which', ['curl']).toString().trim() || null
} catch {}

/** An App set up by `setup(app)`, listening on a free port. */
function start(setup) {
  const app = App()
  setup(app)
  let token
  app.listen('127.0.0.1', 0, (t) => {
    token = t
  })
  if (!token) throw new Error('listen failed')
  const port = us_socket_local_port(token)
  return {
    app,
    port,
    url: (p = '/') => `http://127.0.0.1:${port}${p}`,
    close: () => us_listen_socket_close(token),
  }
}

/** One request with node:http; resolves with { status, headers, body: Buffer, socket }. */
function request(url, { method = 'GET', headers, body, agent } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent }, (res) => {
        const parts = []
        res.on('data', (d) => parts.push(d))
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts), socket: req.socket }),
        )
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    }),
    10000,
    `${method} ${url}`,
  )
}

/** Raw TCP: sends `text`, resolves with the client once `pred(client)` holds. */
async function raw(port, text, pred = (r) => r.head() !== null, ms = 5000) {
  const c = new RawClient(port)
  await withTimeout(c.connected, 5000, 'connect')
  await c.write(text)
  await c.waitFor((r) => pred(r) || r.closed, ms, 'raw response')
  return c
}

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile(curlPath, ['-s', '--max-time', '10', ...args], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    )
  })
}

test('status, headers and body; Date and Content-Length are set', T, async () => {
  const s = start((app) =>
    app.get('/hello', (res) => {
      res.writeStatus('201 Created').writeHeader('X-One', '1').writeHeader('Content-Type', 'text/plain').end('hello')
    }),
  )
  try {
    const r = await fetch(s.url('/hello'))
    assert.equal(r.status, 201)
    assert.equal(r.headers.get('x-one'), '1')
    assert.equal(r.headers.get('content-type'), 'text/plain')
    assert.equal(r.headers.get('content-length'), '5')
    assert.match(r.headers.get('date'), /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
    assert.equal(await r.text(), 'hello')
  } finally {
    s.close()
  }
})

test('unmatched requests get 404, also when every handler yields', T, async () => {
  const s = start((app) =>
    app.get('/yield', (res, req) => {
      req.setYield(true)
    }),
  )
  try {
    for (const p of ['/nope', '/yield']) {
      const r = await fetch(s.url(p))
      assert.equal(r.status, 404, p)
      assert.equal(await r.text(), 'Not Found')
    }
    const r = await fetch(s.url('/yield'), { method: 'POST', body: 'x' })
    assert.equal(r.status, 404)
  } finally {
    s.close()
  }
})

test('parameters, query, headers, methods, route precedence and setYield', T, async () => {
  const calls = []
  const s = start((app) =>
    app
      .any('/*', (res, req) => {
        calls.push('any')
        res.end(`any ${req.getMethod()} ${req.getCaseSensitiveMethod()} ${req.getUrl()}`)
      })
      .get('/users/:id/posts/:post', (res, req) => {
        const headers = {}
        req.forEach((k, v) => (headers[k] = v))
        res.end(
          JSON.stringify({
            id: req.getParameter(0),
            post: req.getParameter('post'),
            missing: req.getParameter(5) ?? null,
            query: req.getQuery() ?? null,
            a: req.getQuery('a') ?? null,
            sp: req.getQuery('s p') ?? null,
            header: req.getHeader('x-custom'),
            absent: req.getHeader('x-absent'),
            hasHost: 'host' in headers,
          }),
        )
      })
      .get('/users/:id', (res, req) => {
        calls.push('param')
        if (req.getParameter(0) === 'pass') return void req.setYield(true)
        res.end(`param ${req.getParameter('id')}`)
      })
      .get('/users/me', (res, req) => {
        calls.push('static')
        if (req.getQuery('yield') !== undefined) return void req.setYield(true)
        res.end('static')
      })
      .del('/users/:id', (res, req) => res.end(`deleted ${req.getParameter('id')}`)),
  )
  try {
    const r = await fetch(s.url('/users/7/posts/9?a=1&s%20p=x+y'), { headers: { 'X-Custom': 'v' } })
    assert.deepEqual(await r.json(), {
      id: '7',
      post: '9',
      missing: null,
      query: 'a=1&s%20p=x+y',
      a: '1',
      sp: 'x y',
      header: 'v',
      absent: '',
      hasHost: true,
    })
    assert.equal(await (await fetch(s.url('/users/me'))).text(), 'static')
    assert.equal(await (await fetch(s.url('/users/me?yield'))).text(), 'param me')
    assert.equal(await (await fetch(s.url('/users/pass'))).text(), 'any get GET /users/pass')
    assert.equal(await (await fetch(s.url('/users/3'), { method: 'DELETE' })).text(), 'deleted 3')
    assert.equal(await (await fetch(s.url('/users/3'), { method: 'PUT' })).text(), 'any put PUT /users/3')
    calls.length = 0
    await (await fetch(s.url('/users/me?yield'))).text()
    assert.deepEqual(calls, ['static', 'param'])
  } finally {
    s.close()
  }
})

test('every method has its route: put, patch, options, connect, trace; cork; binary address; close()', T, async () => {
  const methods = ['get', 'post', 'put', 'del', 'patch', 'options', 'head', 'connect', 'trace']
  const closed = deferred()
  const s = start((app) => {
    for (const m of methods) {
      app[m]('/m', (res, req) => {
        res.cork(() => {
          const address = Buffer.from(res.getRemoteAddress()).join('.')
          res.writeHeader('X-Route', m).writeHeader('X-Address', address)
          if (m === 'head') res.endWithoutBody()
          else res.end(req.getCaseSensitiveMethod())
        })
      })
    }
    app.get('/close', (res) => {
      res.onAborted(() => closed.resolve(res.aborted))
      res.close()
    })
  })
  try {
    for (const m of methods) {
      const method = m === 'del' ? 'DELETE' : m.toUpperCase()
      if (method === 'CONNECT') {
        // node:http hands a CONNECT response to the 'connect' event; read it raw instead.
        const c = await raw(s.port, 'CONNECT /m HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.body().toString() === 'CONNECT')
        assert.equal(c.status(), 200)
        assert.match(c.head(), /X-Route: connect/)
        c.destroy()
        continue
      }
      const r = await request(s.url('/m'), { method })
      assert.equal(r.status, 200, method)
      assert.equal(r.headers['x-route'], m)
      assert.equal(r.headers['x-address'], '127.0.0.1')
      assert.equal(r.body.toString(), method === 'HEAD' ? '' : method)
    }
    await assert.rejects(request(s.url('/close')), /ECONNRESET|socket hang up/)
    assert.equal(await withTimeout(closed.promise, 5000, 'onAborted after close()'), true)
  } finally {
    s.close()
  }
})

test('the request stays readable after the handler returns', T, async () => {
  const s = start((app) =>
    app.get('/later', (res, req) => {
      res.onAborted(() => {})
      setTimeout(() => res.end(`${req.getUrl()} ${req.getHeader('x-a')}`), 10)
    }),
  )
  try {
    assert.equal(await (await fetch(s.url('/later'), { headers: { 'x-a': 'b' } })).text(), '/later b')
  } finally {
    s.close()
  }
})

test('a 1 MiB upload arrives through onData; so does a chunked one', T, async () => {
  const received = []
  const s = start((app) =>
    app.post('/upload', (res) => {
      const parts = []
      let chunks = 0
      res.onAborted(() => {})
      res.onData((chunk, isLast) => {
        assert.ok(chunk instanceof ArrayBuffer)
        parts.push(Buffer.from(chunk))
        chunks++
        if (isLast) {
          const body = Buffer.concat(parts)
          received.push({ chunks, length: body.length })
          res.end(require('node:crypto').createHash('sha1').update(body).digest('hex'))
        }
      })
    }),
  )
  try {
    const body = require('node:crypto').randomBytes(1 << 20)
    const sha = require('node:crypto').createHash('sha1').update(body).digest('hex')
    const r = await fetch(s.url('/upload'), { method: 'POST', body })
    assert.equal(await r.text(), sha)
    assert.equal(received[0].length, 1 << 20)
    assert.ok(received[0].chunks > 1, 'streamed in several chunks')
    // Chunked transfer encoding (node:http without a length).
    const chunked = await new Promise((resolve, reject) => {
      const req = http.request(s.url('/upload'), { method: 'POST' }, (res) => {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject)
      req.write(body.subarray(0, 1000))
      setTimeout(() => req.end(body.subarray(1000)), 20)
    })
    assert.equal(chunked, sha)
    assert.equal(received[1].length, 1 << 20)
    // Empty body: onData gets one empty last chunk at once.
    const empty = await fetch(s.url('/upload'), { method: 'POST', body: '' })
    assert.equal(await empty.text(), require('node:crypto').createHash('sha1').digest('hex'))
  } finally {
    s.close()
  }
})

test('a body nobody reads is discarded and the connection stays usable', T, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const s = start((app) => app.post('/ignore', (res) => res.end('ignored')).get('/next', (res) => res.end('next')))
  try {
    const a = await request(s.url('/ignore'), { method: 'POST', body: Buffer.alloc(300 * 1024, 1), agent })
    assert.equal(a.body.toString(), 'ignored')
    const b = await request(s.url('/next'), { agent })
    assert.equal(b.body.toString(), 'next')
    assert.equal(a.socket, b.socket, 'same connection')
  } finally {
    agent.destroy()
    s.close()
  }
})

test('streaming a large response: write() reports backpressure and onWritable resumes it', T, async () => {
  const total = 32 << 20
  const chunk = Buffer.alloc(64 * 1024, 7)
  const stats = { falses: 0, writables: 0 }
  const s = start((app) =>
    app.get('/stream', (res) => {
      let sent = 0
      res.onAborted(() => {})
      const pump = () => {
        while (sent < total) {
          sent += chunk.length
          if (sent >= total) return void res.end(chunk)
          if (!res.write(chunk)) {
            stats.falses++
            return
          }
        }
      }
      res.onWritable((offset) => {
        stats.writables++
        assert.equal(offset, sent)
        pump()
        return true
      })
      pump()
    }),
  )
  try {
    // Read slowly at first so that the server's queue fills.
    const length = await withTimeout(
      new Promise((resolve, reject) => {
        http.get(s.url('/stream'), (res) => {
          assert.equal(res.headers['transfer-encoding'], 'chunked')
          res.pause()
          let n = 0
          setTimeout(() => res.resume(), 300)
          res.on('data', (d) => {
            for (let i = 0; i < d.length; i += 4096) assert.equal(d[i], 7)
            n += d.length
          })
          res.on('end', () => resolve(n))
          res.on('error', reject)
        })
      }),
      15000,
      'streamed body',
    )
    assert.equal(length, total)
    assert.ok(stats.falses > 0, 'write returned false at least once')
    assert.equal(stats.writables, stats.falses)
  } finally {
    s.close()
  }
})

test('tryEnd streams a sized body with backpressure; getWriteOffset counts what was taken', T, async () => {
  const total = 8 << 20
  const data = Buffer.alloc(total)
  for (let i = 0; i < total; i++) data[i] = i & 0xff
  let notOk = 0
  const s = start((app) =>
    app.get('/file', (res) => {
      res.onAborted(() => {})
      const send = () => {
        for (;;) {
          const offset = res.getWriteOffset()
          const [ok, done] = res.tryEnd(data.subarray(offset, offset + 256 * 1024), total)
          if (done) return true
          if (!ok) {
            notOk++
            return false
          }
        }
      }
      res.onWritable(() => send())
      send()
    }),
  )
  try {
    const r = await request(s.url('/file'))
    assert.equal(r.headers['content-length'], String(total))
    assert.ok(r.body.equals(data))
    assert.ok(notOk > 0, 'tryEnd reported backpressure')
  } finally {
    s.close()
  }
})

test('keep-alive: two requests reuse one connection', T, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const ports = []
  const s = start((app) =>
    app.get('/port', (res) => {
      ports.push(res.getRemotePort())
      res.end(Buffer.from(res.getRemoteAddressAsText()).toString())
    }),
  )
  try {
    const a = await request(s.url('/port'), { agent })
    const b = await request(s.url('/port'), { agent })
    assert.equal(a.body.toString(), '127.0.0.1')
    assert.equal(a.socket, b.socket)
    assert.equal(ports[0], ports[1])
    assert.equal(ports[0], a.socket.localPort)
  } finally {
    agent.destroy()
    s.close()
  }
})

test('pipelining: responses in order, the next handler starts after the previous response', T, async () => {
  const log = []
  const s = start((app) =>
    app
      .get('/slow', (res) => {
        log.push('slow start')
        res.onAborted(() => {})
        setTimeout(() => {
          log.push('slow end')
          res.end('slow')
        }, 50)
      })
      .post('/fast', (res) => {
        log.push('fast start')
        const parts = []
        res.onData((d, last) => {
          parts.push(Buffer.from(d))
          if (last) res.end(`fast ${Buffer.concat(parts)}`)
        })
      }),
  )
  try {
    const text =
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody' +
      'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const c = await raw(s.port, text, (r) => r.closed, 5000)
    const out = c.data.toString()
    const bodies = [...out.matchAll(/\r\n\r\n(slow|fast body)/g)].map((m) => m[1])
    assert.deepEqual(bodies, ['slow', 'fast body', 'slow'])
    assert.deepEqual(log, ['slow start', 'slow end', 'fast start', 'slow start', 'slow end'])
    assert.match(out, /Connection: close\r\n/)
    c.destroy()
  } finally {
    s.close()
  }
})

test('smuggling guards and bad requests: 400 / 431 / 414 / 505, then close', T, async () => {
  let calls = 0
  const aborted = deferred()
  const s = start((app) =>
    app.any('/*', (res) => {
      calls++
      res.onAborted(() => aborted.resolve())
      res.onData((d, last) => last && res.end('ok'))
    }),
  )
  try {
    const cases = [
      ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
      ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\n\r\n', 400],
      ['GET / HTTP/1.1\nHost: x\n\n', 400],
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
      [`GET /${'a'.repeat(9 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
      ['GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
    ]
    for (const [text, status] of cases) {
      const c = await raw(s.port, text, (r) => r.closed)
      assert.equal(c.status(), status, JSON.stringify(text.slice(0, 60)))
      assert.match(c.head(), /Connection: close/)
      c.destroy()
    }
    assert.equal(calls, 0)
    // A bad chunked body while the handler reads it: 400 too, and the handler hears of it.
    const c = await raw(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', (r) => r.closed)
    assert.equal(c.status(), 400)
    c.destroy()
    await withTimeout(aborted.promise, 5000, 'onAborted')
  } finally {
    s.close()
  }
})

test('a handler that never answers does not crash; the client leaving runs onAborted', T, async () => {
  const aborted = deferred()
  let neverRes
  const s = start((app) =>
    app
      .get('/never', (res) => {
        neverRes = res
      })
      .get('/pending', (res) => {
        res.onAborted(() => aborted.resolve(res.aborted))
      })
      .get('/ok', (res) => res.end('ok')),
  )
  try {
    const never = new RawClient(s.port)
    await never.connected
    await never.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(50)
    assert.equal(await (await fetch(s.url('/ok'))).text(), 'ok')
    const pending = new RawClient(s.port)
    await pending.connected
    await pending.write('GET /pending HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(100)
    pending.destroy()
    assert.equal(await withTimeout(aborted.promise, 5000, 'onAborted'), true)
    assert.equal(await (await fetch(s.url('/ok'))).text(), 'ok')
    // The never-answered request can still be answered later.
    const c = new RawClient(s.port)
    await c.connected
    await c.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(100)
    neverRes.end('late')
    await c.waitFor((r) => r.body().toString() === 'late', 5000, 'late answer')
    c.destroy()
    never.destroy()
  } finally {
    s.close()
  }
})

test('methods of an ended or aborted response throw (never crash)', T, async () => {
  const results = deferred()
  const aborted = deferred()
  const s = start((app) =>
    app
      .get('/twice', (res) => {
        res.end('one')
        const errors = []
        for (const f of [
          () => res.end('two'),
          () => res.write('x'),
          () => res.writeHeader('a', 'b'),
          () => res.writeStatus('200 OK'),
          () => res.tryEnd('x', 1),
          () => res.getWriteOffset(),
          () => res.onData(() => {}),
          () => res.cork(() => {}),
          () => res.close(),
          () => res.pause(),
        ]) {
          try {
            f()
            errors.push('no error')
          } catch (err) {
            errors.push(err instanceof Error ? 'Error' : typeof err)
          }
        }
        results.resolve(errors)
      })
      .get('/abort', (res) => {
        res.onAborted(() => {
          let error = null
          try {
            res.end('late')
          } catch (err) {
            error = err.message
          }
          aborted.resolve(error)
        })
      }),
  )
  try {
    assert.equal(await (await fetch(s.url('/twice'))).text(), 'one')
    assert.deepEqual(await results.promise, Array(10).fill('Error'))
    const d = new RawClient(s.port)
    await d.connected
    await d.write('GET /abort HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(50)
    d.destroy()
    assert.match(await withTimeout(aborted.promise, 5000, 'abort'), /aborted/)
  } finally {
    s.close()
  }
  const s2 = start((app) =>
    app.get('/invalid', (res) => {
      const errors = []
      for (const f of [
        () => res.writeHeader('Bad Name', 'x'),
        () => res.writeHeader('x', 'a\r\nInjected: 1'),
        () => res.writeHeader('Content-Length', '1'),
      ]) {
        try {
          f()
          errors.push('no error')
        } catch (err) {
          errors.push(err.message.split(':')[0])
        }
      }
      let statusError = 'no error'
      try {
        res.writeStatus('99 Nope')
      } catch {
        statusError = 'bad status'
      }
      res.writeStatus('204 No Content')
      let bodyError = 'no error'
      try {
        res.end('body')
      } catch {
        bodyError = '204 body'
      }
      res.end()
      errors.push(statusError, bodyError)
      s2.errors = errors
    }),
  )
  try {
    const r = await fetch(s2.url('/invalid'))
    assert.equal(r.status, 204)
    assert.deepEqual(s2.errors, ['writeHeader', 'writeHeader', 'writeHeader', 'bad status', '204 body'])
  } finally {
    s2.close()
  }
})

test('HEAD gets headers without a body; endWithoutBody; write() chunks', T, async () => {
  const s = start((app) =>
    app
      .head('/doc', (res) => res.writeHeader('X-H', '1').end('twelve bytes'))
      .get('/nobody', (res) => res.endWithoutBody())
      .head('/reported', (res) => res.endWithoutBody(42))
      .get('/chunks', (res) => {
        res.write('a')
        res.write(new Uint8Array([98]))
        res.end('c')
      }),
  )
  try {
    const c = await raw(s.port, 'HEAD /doc HTTP/1.1\r\nHost: x\r\n\r\nGET /nobody HTTP/1.1\r\nHost: x\r\n\r\n', (r) =>
      /Content-Length: 0\r\n\r\n$/.test(r.data.toString()),
    )
    const out = c.data.toString()
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(out, /Content-Length: 12\r\n\r\nHTTP\/1\.1 200 OK\r\n/, 'no body after the HEAD response')
    c.destroy()
    const reported = await request(s.url('/reported'), { method: 'HEAD' })
    assert.equal(reported.headers['content-length'], '42')
    const chunks = await request(s.url('/chunks'))
    assert.equal(chunks.headers['transfer-encoding'], 'chunked')
    assert.equal(chunks.body.toString(), 'abc')
  } finally {
    s.close()
  }
})

test('Connection: close from the client or end(body, true) closes after the response', T, async () => {
  const s = start((app) => app.get('/a', (res) => res.end('a')).get('/b', (res) => res.end('b', true)))
  try {
    for (const [path, extra] of [
      ['/a', 'Connection: close\r\n'],
      ['/b', ''],
    ]) {
      const c = await raw(s.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`, (r) => r.closed)
      assert.equal(c.header('connection'), 'close')
      assert.equal(c.body().toString(), path.slice(1))
      c.destroy()
    }
    // HTTP/1.0 closes by default.
    const c = await raw(s.port, 'GET /a HTTP/1.0\r\n\r\n', (r) => r.closed)
    assert.equal(c.status(), 200)
    c.destroy()
  } finally {
    s.close()
  }
})

test('a .ws() route and an HTTP route on the same path', T, async () => {
  const s = start((app) =>
    app
      .ws('/chat', { message: (ws, m, isBinary) => ws.send(m, isBinary) })
      .get('/chat', (res) => res.end('chat page'))
      .ws('/only-ws', {}),
  )
  try {
    assert.equal(await (await fetch(s.url('/chat'))).text(), 'chat page')
    const ws = await openClient(`ws://127.0.0.1:${s.port}/chat`)
    const got = collect(ws, 1)
    ws.send('echo me')
    assert.equal((await got)[0].data.toString(), 'echo me')
    ws.close()
    // A .ws() path without an HTTP route still answers a plain GET as a bad handshake.
    const r = await fetch(s.url('/only-ws'))
    assert.equal(r.status, 400)
    await r.text()
    // An HTTP request then an upgrade on the same connection.
    const key = require('node:crypto').randomBytes(16).toString('base64')
    const c = await raw(
      s.port,
      'GET /chat HTTP/1.1\r\nHost: x\r\n\r\n' +
        `GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      (r) => r.data.includes('101 Switching Protocols'),
    )
    assert.match(c.data.toString(), /^HTTP\/1\.1 200 OK[\s\S]*chat pageHTTP\/1\.1 101 Switching Protocols/)
    c.destroy()
  } finally {
    s.close()
  }
})

test('Expect: 100-continue is answered when the handler reads the body', T, async () => {
  const s = start((app) =>
    app
      .post('/read', (res) => {
        let n = 0
        res.onData((d, last) => {
          n += d.byteLength
          if (last) res.end(String(n))
        })
      })
      .post('/reject', (res) => res.writeStatus('413 Content Too Large').end('no')),
  )
  try {
    const c = await raw(s.port, 'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n')
    assert.equal(c.status(), 100)
    await c.write('abc')
    await c.waitFor((r) => r.data.toString().endsWith('\r\n\r\n3'), 5000, 'final response')
    c.destroy()
    const d = await raw(
      s.port,
      'POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n',
      (r) => r.closed,
    )
    assert.equal(d.status(), 413)
    assert.equal(d.header('connection'), 'close')
    d.destroy()
  } finally {
    s.close()
  }
})

test('pause() stops the body until resume()', T, async () => {
  const seen = []
  let resume
  const s = start((app) =>
    app.post('/paused', (res) => {
      let n = 0
      res.onData((d, last) => {
        n += d.byteLength
        if (seen.length === 0) {
          res.pause()
          resume = () => res.resume()
        }
        seen.push(n)
        if (last) res.end(String(n))
      })
    }),
  )
  try {
    // Larger than what may already be read when pause() runs (the events waiting for JS
    // are bounded at 8 MiB, plus the socket buffers): 4 MiB all arrived first at times.
    const body = Buffer.alloc(32 << 20, 1)
    const p = fetch(s.url('/paused'), { method: 'POST', body })
    await withTimeout(
      (async () => {
        while (!resume) await sleep(10)
      })(),
      5000,
      'first chunk',
    )
    // Chunks already on their way still arrive; then nothing until resume().
    await sleep(100)
    const before = seen.length
    await sleep(200)
    assert.equal(seen.length, before, 'no chunks while paused')
    assert.ok(seen[seen.length - 1] < body.length)
    resume()
    assert.equal(await (await p).text(), String(body.length))
  } finally {
    s.close()
  }
})

test('curl: GET, POST with a body and HEAD', { ...T, skip: curlPath ? false : 'curl is not installed' }, async () => {
  const s = start((app) =>
    app
      .get('/curl', (res) => res.writeHeader('X-Curl', 'yes').end('from rsws'))
      .post('/curl', (res) => {
        const parts = []
        res.onData((d, last) => {
          parts.push(Buffer.from(d))
          if (last) res.end(Buffer.concat(parts).toString().toUpperCase())
        })
      }),
  )
  try {
    const out = (await curl(['-i', s.url('/curl')])).toString()
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(out, /X-Curl: yes/)
    assert.ok(out.endsWith('from rsws'))
    assert.equal((await curl(['-d', 'posted', s.url('/curl')])).toString(), 'POSTED')
    const file = require('node:path').join(require('node:os').tmpdir(), `rsws-curl-${process.pid}.bin`)
    require('node:fs').writeFileSync(file, 'y'.repeat(2 << 20))
    try {
      const upper = await curl(['-H', 'Expect: 100-continue', '--data-binary', `@${file}`, s.url('/curl')])
      assert.equal(upper.length, 2 << 20)
      assert.equal(upper[0], 'Y'.charCodeAt(0))
    } finally {
      require('node:fs').unlinkSync(file)
    }
    const head = (await curl(['-I', s.url('/curl')])).toString()
    assert.match(head, /Content-Length: 9/)
    assert.equal((await curl(['-o', '/dev/null', '-w', '%{http_code}', s.url('/missing')])).toString(), '404')
  } finally {
    s.close()
  }
})

test('after us_listen_socket_close a keep-alive connection is still served, and the process exits once it closes', T, async () => {
  // As uWS.js: the App's connections hold the process, not only its listener.
  const run = spawnScript(`
    const { App, us_listen_socket_close, us_socket_local_port } = require(${JSON.stringify(REPO)})
    let token
    App().get('/*', (res, req) => res.end('served ' + req.getUrl())).listen('127.0.0.1', 0, (t) => { token = t })
    console.log('READY ' + us_socket_local_port(token))
    process.stdin.once('data', () => {
      us_listen_socket_close(token)
      console.log('listener closed')
    })
  `)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const [, port] = await run.output(/READY (\d+)/)
    const first = await request(`http://127.0.0.1:${port}/one`, { agent })
    assert.equal(first.body.toString(), 'served /one')
    run.child.stdin.end('close\n')
    await run.output(/listener closed/)
    await sleep(300)
    const second = await request(`http://127.0.0.1:${port}/two`, { agent })
    assert.equal(second.body.toString(), 'served /two')
    assert.equal(first.socket, second.socket, 'same connection')
    await sleep(200)
    assert.equal(run.child.exitCode, null, 'the child exited with a connection open')
    agent.destroy()
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, `stderr: ${run.err}`)
  } catch (e) {
    agent.destroy()
    await run.kill()
    throw run.failure(e)
  }
})

test('idle keep-alive connections are closed after about 10 s', { timeout: 30000 }, async () => {
  const s = start((app) => app.get('/', (res) => res.end('x')))
  try {
    const c = await raw(s.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.body().length === 1)
    const at = Date.now()
    await c.waitEnd(15000)
    const took = Date.now() - at
    assert.ok(took > 8000 && took < 13000, `closed after ${took} ms`)
  } finally {
    s.close()
  }
})

test('app.close() aborts pending responses', T, async () => {
  const aborted = deferred()
  const started = deferred()
  const s = start((app) =>
    app.get('/hang', (res) => {
      res.onAborted(() => aborted.resolve(true))
      started.resolve()
    }),
  )
  const c = new RawClient(s.port)
  await c.connected
  await c.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n')
  await withTimeout(started.promise, 5000, 'request')
  s.app.close()
  assert.equal(await withTimeout(aborted.promise, 1000, 'onAborted'), true)
  await c.waitEnd(5000)
})

test('many concurrent requests over many connections', T, async () => {
  const s = start((app) =>
    app
      .get('/n/:i', (res, req) => {
        const i = req.getParameter('i')
        if (Number(i) % 3 === 0) {
          res.onAborted(() => {})
          setImmediate(() => res.end(i))
        } else res.end(i)
      })
      .post('/sum', (res) => {
        let n = 0
        res.onData((d, last) => {
          for (const b of new Uint8Array(d)) n += b
          if (last) res.end(String(n))
        })
      }),
  )
  try {
    const gets = Array.from({ length: 300 }, (_, i) => fetch(s.url(`/n/${i}`)).then((r) => r.text()))
    const posts = Array.from({ length: 50 }, () =>
      fetch(s.url('/sum'), { method: 'POST', body: Buffer.alloc(10000, 1) }).then((r) => r.text()),
    )
    const got = await Promise.all(gets)
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => String(i)))
    assert.deepEqual(await Promise.all(posts), Array(50).fill('10000'))
  } finally {
    s.close()
  }
})

test('app.shutdown(): idle connections close, a pending response finishes with Connection: close', T, async () => {
  let pending
  const started = deferred()
  const s = start((app) =>
    app
      .get('/idle', (res) => res.end('idle'))
      .get('/slow', (res) => {
        res.onAborted(() => {})
        pending = res
        started.resolve()
      }),
  )
  const idle = await raw(s.port, 'GET /idle HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.body().toString() === 'idle')
  const slow = new RawClient(s.port)
  await slow.connected
  await slow.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
  await withTimeout(started.promise, 5000, 'slow request')
  const done = s.app.shutdown({ timeoutMs: 1000 })
  await idle.waitEnd(3000)
  await sleep(50)
  assert.equal(slow.closed, false)
  pending.end('slow')
  await slow.waitEnd(3000)
  assert.equal(slow.header('connection'), 'close')
  assert.equal(slow.body().toString(), 'slow')
  await done
})
