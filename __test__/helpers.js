'use strict'
// Shared helpers for the rsws test suite: servers on port 0, `ws` clients, raw TCP clients
// and a small RFC 6455 frame encoder/decoder.
const net = require('node:net')
const { spawn, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const path = require('node:path')
const WS = require('ws')

const REPO = path.join(__dirname, '..')
const rsws = require(REPO)
const { App, us_listen_socket_close, us_socket_local_port } = rsws

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Rejects after `ms` with a descriptive error unless `promise` settles first. */
function withTimeout(promise, ms, what = 'operation') {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => {
        const text = typeof what === 'function' ? what() : what
        reject(new Error(`timed out after ${ms} ms waiting for ${text}`))
      }, ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Whether the openssl CLI is there to make test certificates. */
const hasOpenssl = spawnSync('openssl', ['version']).status === 0

/** Makes a self-signed P-256 certificate for `cn` (also its subjectAltName; localhost gets
 * 127.0.0.1 too) in `dir`; returns the paths { key, cert }. Needs the openssl CLI. */
function makeSelfSigned(dir, cn) {
  const key = path.join(dir, `${cn}.key`)
  const cert = path.join(dir, `${cn}.crt`)
  const san = cn === 'localhost' ? 'DNS:localhost,IP:127.0.0.1' : `DNS:${cn}`
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
    '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`]
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
  return { key, cert }
}

/** Large enough that the tests' big sends are never dropped by the default 64 KiB maxBackpressure. */
const BIG_BACKPRESSURE = 64 * 1024 * 1024

/**
 * Starts a server with the given routes ({ pattern: behavior } or [[pattern, behavior], ...])
 * on port 0 (`appOptions`: passed to `App()`). Returns { app, port, token, close() }.
 */
function startServer(routes, { host, appOptions } = {}) {
  const app = App(appOptions)
  const entries = Array.isArray(routes) ? routes : Object.entries(routes)
  for (const [pattern, behavior] of entries) app.ws(pattern, behavior)
  let token
  const cb = (t) => {
    token = t
  }
  if (host) app.listen(host, 0, cb)
  else app.listen(0, cb)
  if (!token) throw new Error('listen failed')
  const port = us_socket_local_port(token)
  let closed = false
  return {
    app,
    port,
    token,
    url: (p = '/') => `ws://127.0.0.1:${port}${p}`,
    close() {
      if (closed) return
      closed = true
      us_listen_socket_close(token)
    },
  }
}

/** Opens a `ws` client and resolves once it is open. */
function openClient(url, options = {}, ms = 5000) {
  const ws = new WS(url, options)
  const p = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)))
  })
  return withTimeout(p, ms, `open ${url}`).catch((err) => {
    ws.terminate()
    throw err
  })
}

/** Collects the next `n` messages of a `ws` client as { data, isBinary }. */
function collect(ws, n, ms = 10000) {
  const out = []
  let onMessage
  const p = new Promise((resolve, reject) => {
    if (n === 0) return resolve(out)
    onMessage = (data, isBinary) => {
      out.push({ data, isBinary })
      if (out.length === n) resolve(out)
    }
    ws.on('message', onMessage)
    ws.once('close', (code) => {
      if (out.length < n) reject(new Error(`closed (${code}) after ${out.length}/${n} messages`))
    })
  })
  return withTimeout(p, ms, () => `${n} messages (got ${out.length})`).finally(() => ws.off('message', onMessage))
}

/** Resolves with { code, reason: string } when the `ws` client closes. */
function waitClose(ws, ms = 10000) {
  if (ws.readyState === WS.CLOSED) return Promise.resolve({ code: ws._closeCode, reason: String(ws._closeMessage || '') })
  const p = new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  return withTimeout(p, ms, 'client close')
}

/** Closes clients (terminate) ignoring errors. */
function closeAll(clients) {
  for (const c of clients) {
    try {
      c.terminate()
    } catch {}
  }
}

/** A deferred promise. */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

// ---------------------------------------------------------------------------------------
// Raw frames

/**
 * Encodes one frame. opts: { fin = true, rsv = 0 (3 bits), opcode, mask = true, maskKey,
 * payload (Buffer|string), length (override the announced length) }
 */
function encodeFrame({ fin = true, rsv = 0, opcode, mask = true, maskKey, payload = Buffer.alloc(0), length } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
  const len = length === undefined ? data.length : length
  const head = []
  head.push((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f))
  const m = mask ? 0x80 : 0
  let ext
  if (len < 126) {
    head.push(m | len)
    ext = Buffer.alloc(0)
  } else if (len < 65536) {
    head.push(m | 126)
    ext = Buffer.alloc(2)
    ext.writeUInt16BE(len)
  } else {
    head.push(m | 127)
    ext = Buffer.alloc(8)
    ext.writeBigUInt64BE(BigInt(len))
  }
  const parts = [Buffer.from(head), ext]
  if (mask) {
    const key = maskKey || crypto.randomBytes(4)
    const masked = Buffer.alloc(data.length)
    for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ key[i & 3]
    parts.push(key, masked)
  } else {
    parts.push(data)
  }
  return Buffer.concat(parts)
}

function closePayload(code, reason = '') {
  const r = Buffer.from(reason)
  const b = Buffer.alloc(2 + r.length)
  b.writeUInt16BE(code)
  r.copy(b, 2)
  return b
}

/**
 * Decodes as many complete (unmasked or masked) frames as `buf` holds.
 * Returns { frames: [{ fin, rsv, opcode, payload, code?, reason? }], rest }.
 */
function decodeFrames(buf) {
  const frames = []
  let at = 0
  while (buf.length - at >= 2) {
    const b0 = buf[at]
    const b1 = buf[at + 1]
    let len = b1 & 0x7f
    let off = at + 2
    if (len === 126) {
      if (buf.length - off < 2) break
      len = buf.readUInt16BE(off)
      off += 2
    } else if (len === 127) {
      if (buf.length - off < 8) break
      len = Number(buf.readBigUInt64BE(off))
      off += 8
    }
    let key = null
    if (b1 & 0x80) {
      if (buf.length - off < 4) break
      key = buf.subarray(off, off + 4)
      off += 4
    }
    if (buf.length - off < len) break
    let payload = Buffer.from(buf.subarray(off, off + len))
    if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]
    const f = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked: key !== null, payload }
    if (f.opcode === 8) {
      f.code = payload.length >= 2 ? payload.readUInt16BE(0) : undefined
      f.reason = payload.subarray(2).toString()
    }
    frames.push(f)
    at = off + len
  }
  return { frames, rest: buf.subarray(at) }
}

// ---------------------------------------------------------------------------------------
// Raw TCP client

function upgradeRequest(pathname = '/', { key = crypto.randomBytes(16).toString('base64'), headers, method = 'GET', version = 'HTTP/1.1', port = 0 } = {}) {
  const base = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  }
  const all = { ...base, ...(headers || {}) }
  let text = `${method} ${pathname} ${version}\r\n`
  for (const [k, v] of Object.entries(all)) {
    if (v === undefined || v === null) continue
    text += `${k}: ${v}\r\n`
  }
  return text + '\r\n'
}

function acceptFor(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64')
}

/**
 * A raw TCP connection that accumulates everything it receives.
 * - `raw.data`: all bytes received so far
 * - `raw.waitFor(pred, ms)`: resolves when pred(raw) is true
 * - `raw.ended`: promise resolving when the TCP connection closes (end or close)
 */
class RawClient {
  constructor(port, host = '127.0.0.1') {
    this.socket = net.connect(port, host)
    this.data = Buffer.alloc(0)
    this.closed = false
    this.waiters = []
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('error', reject)
    })
    this.socket.on('error', () => {})
    this.socket.on('data', (d) => {
      this.data = Buffer.concat([this.data, d])
      this._check()
    })
    this.ended = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.closed = true
        this._check()
        resolve()
      })
    })
    // Half-closes from the server count as "closed" for the tests' purposes.
    this.socket.on('end', () => {
      this.closed = true
      this._check()
    })
  }

  _check() {
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(this)) {
        w.resolve(this)
        return false
      }
      return true
    })
  }

  waitFor(pred, ms = 5000, what = 'raw data') {
    if (pred(this)) return Promise.resolve(this)
    const p = new Promise((resolve) => this.waiters.push({ pred, resolve }))
    return withTimeout(p, ms, what)
  }

  write(bytes) {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())))
  }

  /** The HTTP response head (text up to and including \r\n\r\n), or null. */
  head() {
    const i = this.data.indexOf('\r\n\r\n')
    return i < 0 ? null : this.data.subarray(0, i + 4).toString('latin1')
  }

  status() {
    const h = this.head()
    if (!h) return null
    return Number(h.split(' ')[1])
  }

  header(name) {
    const h = this.head()
    if (!h) return undefined
    for (const line of h.split('\r\n').slice(1)) {
      const i = line.indexOf(':')
      if (i > 0 && line.slice(0, i).trim().toLowerCase() === name.toLowerCase()) return line.slice(i + 1).trim()
    }
    return undefined
  }

  /** Bytes after the HTTP response head. */
  body() {
    const i = this.data.indexOf('\r\n\r\n')
    return i < 0 ? Buffer.alloc(0) : this.data.subarray(i + 4)
  }

  frames() {
    return decodeFrames(this.body()).frames
  }

  waitHead(ms = 5000) {
    return this.waitFor((r) => r.head() !== null || r.closed, ms, 'HTTP response head').then(() => {
      if (this.head() === null) throw new Error(`connection closed without a response (got ${JSON.stringify(this.data.toString('latin1'))})`)
      return this
    })
  }

  waitFrames(n, ms = 5000) {
    return this.waitFor((r) => r.frames().length >= n || r.closed, ms, `${n} frames`).then(() => this.frames())
  }

  /** Resolves once a close frame arrives (or TCP closes); returns the frames. */
  waitCloseFrame(ms = 5000) {
    return this.waitFor((r) => r.frames().some((f) => f.opcode === 8) || r.closed, ms, 'close frame').then(() =>
      this.frames(),
    )
  }

  waitEnd(ms = 5000) {
    return withTimeout(this.ended, ms, 'TCP close')
  }

  destroy() {
    this.socket.destroy()
  }
}

/** Connects a raw client and completes the upgrade; returns it after the 101 head arrived. */
async function rawUpgrade(port, pathname = '/', opts = {}) {
  const raw = new RawClient(port)
  await withTimeout(raw.connected, 5000, 'TCP connect')
  await raw.write(upgradeRequest(pathname, { port, ...opts }))
  await raw.waitHead()
  if (raw.status() !== 101) {
    raw.destroy()
    throw new Error(`upgrade failed: ${raw.head()}`)
  }
  return raw
}

/** Sends a raw request (string or Buffer) and returns the client once a head arrived. */
async function rawRequest(port, request, ms = 5000) {
  const raw = new RawClient(port)
  await withTimeout(raw.connected, 5000, 'TCP connect')
  await raw.write(request)
  await raw.waitHead(ms)
  return raw
}

/**
 * Runs `script` in a child Node process with piped stdio. `output(re)` resolves with the
 * match once the child's stdout matches `re`; `exit()` with `{ code, signal }`;
 * `kill()` ends it; `failure(e)` is `e` with the child's output appended.
 */
function spawnScript(script) {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] })
  const run = { child, out: '', err: '' }
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  child.stderr.on('data', (d) => (run.err += d))
  child.stdout.on('data', (d) => (run.out += d))
  run.output = (re, ms = 5000) => {
    const seen = new Promise((resolve) => {
      const check = () => {
        const m = run.out.match(re)
        if (!m) return
        child.stdout.off('data', check)
        resolve(m)
      }
      child.stdout.on('data', check)
      check()
    })
    return withTimeout(seen, ms, `child output ${re}`)
  }
  run.exit = (ms = 5000) => withTimeout(exited, ms, 'child exit')
  run.kill = () => {
    child.kill('SIGKILL')
    return exited
  }
  run.failure = (e) => new Error(`${e.message}; stdout=${JSON.stringify(run.out)} stderr=${JSON.stringify(run.err)}`)
  return run
}

module.exports = {
  spawnScript,
  REPO,
  BIG_BACKPRESSURE,
  rsws,
  WS,
  GUID,
  withTimeout,
  sleep,
  hasOpenssl,
  makeSelfSigned,
  startServer,
  openClient,
  collect,
  waitClose,
  closeAll,
  deferred,
  encodeFrame,
  closePayload,
  decodeFrames,
  upgradeRequest,
  acceptFor,
  RawClient,
  rawUpgrade,
  rawRequest,
}
