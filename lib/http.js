'use strict'
// HTTP routes: app.get/post/put/del/patch/options/head/connect/trace/any(pattern,
// (res, req) => ...), in the shape of uWS.js. Requests arrive as HTTP_REQUEST events
// (src/server/http/request.rs); answers are packed records (src/server/http/exchange.rs)
// handed to Rust once per JS turn, like WebSocket sends.
//
// Unlike uWS.js, `req` stays valid after the handler returns, and a handler that returns
// without answering (and without onAborted) just leaves the request pending until it is
// answered or the client leaves: it never aborts the process.
const { Outbox, bytesOf } = require('./outbox')
const { HttpRequest: RequestBase } = require('./upgrade')
const { addressBytes, addressTextBuffer } = require('./address')

// Event kinds, mirrored in src/server/events.rs.
const HTTP_REQUEST = 32
const HTTP_DATA = 33
const HTTP_ABORTED = 34
const HTTP_WRITABLE = 35

// HTTP_REQUEST flags (src/server/http/request.rs).
const HAS_BODY = 1
const HEAD = 2

// Record ops and flags (src/server/http/exchange.rs).
const op = {
  STATUS: 1,
  HEADER: 2,
  WRITE: 3,
  END: 4,
  END_WITHOUT_BODY: 5,
  TRY_END: 6,
  BODY: 7,
  PAUSE: 8,
  RESUME: 9,
  WRITABLE: 10,
  CLOSE: 11,
}
const FLAG_CLOSE = 1
const FLAG_HAS_LENGTH = 2

const RECORD_HEADER = 12
/** Body data at least this large goes to Rust directly instead of being packed. */
const DIRECT = 64 * 1024
/** Bytes queued for a response (in Rust, plus packed this turn) above which `write` and
 * `tryEnd` report backpressure: the WebSocket default maxBackpressure. */
const HIGH_WATER = 64 * 1024

/** [method name on the app, HTTP method] (`any`: every method). */
const METHODS = [
  ['get', 'GET'],
  ['post', 'POST'],
  ['put', 'PUT'],
  ['del', 'DELETE'],
  ['patch', 'PATCH'],
  ['options', 'OPTIONS'],
  ['head', 'HEAD'],
  ['connect', 'CONNECT'],
  ['trace', 'TRACE'],
  ['any', null],
]

const EMPTY = new ArrayBuffer(0)

// What the response writer in Rust accepts (src/protocol/http1/response.rs), checked here
// so that misuse throws at the call instead of failing the connection later.
const STATUS_RE = /^[2-5][0-9]{2}(?: [^\x00-\x08\x0a-\x1f\x7f]*)?$/
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_RE = /^[^\x00-\x08\x0a-\x1f\x7f]*$/

const ENDED = 'Invalid access of ended HttpResponse (it was already answered)'
const ABORTED = 'Invalid access of aborted HttpResponse (the request was aborted)'
const BAD_STATUS = "writeStatus: expected a status code 200-599 and an optional reason, e.g. '200 OK'"
const STATUS_TWICE = 'writeStatus: the status line was already written; call writeStatus once, before writeHeader'
const BODY_STARTED = 'writeStatus/writeHeader: the body was already started; write status and headers first'
const BAD_NAME = 'writeHeader: header names must be non-empty tokens (no spaces, colons or control characters)'
const BAD_VALUE = 'writeHeader: header values must not contain CR, LF or other control characters'
const FRAMING = 'writeHeader: Content-Length and Transfer-Encoding are set by end, endWithoutBody, write and tryEnd'
const NO_BODY = 'responses with status 204 or 304 cannot have a body'
const MIXED = 'write() and tryEnd() cannot be mixed in one response'
const SIZE = 'tryEnd/end: more bytes than the total size announced to tryEnd'
const LENGTH =
  'endWithoutBody: a reported content length is only valid for HEAD requests (not 204) and 304 responses, before the body'

/** Re-throws a handler's exception outside the batch so Node reports it as uncaught. */
function report(err) {
  process.nextTick(() => {
    throw err
  })
}

/** Body data: a string (packed as UTF-8) or bytes. */
function dataOf(x) {
  return typeof x === 'string' ? x : bytesOf(x)
}

function byteLength(data) {
  if (data === undefined) return 0
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length
}

/** Header text as given (string or bytes) and as one char per byte, for checking. */
function headerText(x) {
  if (typeof x === 'string') return [x, x]
  const bytes = bytesOf(x)
  return [bytes, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1')]
}

function checkSize(n, what) {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(`${what} must be a non-negative integer`)
  }
  return n
}

/** The answers of all HTTP responses of one App, packed for `native.httpFlush`. */
class HttpOutbox extends Outbox {
  constructor(native) {
    super({ flush: (records) => native.httpFlush(records) })
    this.direct = native
  }

  /** Packs one record (or hands large data straight to Rust); returns the data's length. */
  record(slot, opcode, flags, serial, data, size) {
    const sized = size !== undefined
    if (data !== undefined && typeof data !== 'string' && data.length >= DIRECT) {
      // Everything packed so far goes first, to keep the order.
      this.flush()
      this.direct.httpDirect(slot, opcode, flags, serial, sized ? size : 0, data)
      return data.length
    }
    const max = data === undefined ? 0 : typeof data === 'string' ? data.length * 3 : data.length
    this.reserve(RECORD_HEADER + 12 + max)
    const b = this.buf
    const at = this.len
    let p = at + RECORD_HEADER
    b.writeUInt32LE(serial, p)
    p += 4
    if (sized) {
      b.writeUInt32LE(size % 0x100000000, p)
      b.writeUInt32LE(Math.floor(size / 0x100000000), p + 4)
      p += 8
    }
    const start = p
    if (typeof data === 'string') p += b.write(data, p, 'utf8')
    else if (data !== undefined) {
      b.set(data, p)
      p += data.length
    }
    this.header(at, slot, opcode, flags, 0, p - at - RECORD_HEADER)
    this.len = p
    this.schedule()
    return p - start
  }

  /** A HEADER record: `u16 name length | name | value`. */
  headerRecord(slot, serial, name, value) {
    const nameMax = typeof name === 'string' ? name.length * 3 : name.length
    const valueMax = typeof value === 'string' ? value.length * 3 : value.length
    this.reserve(RECORD_HEADER + 6 + nameMax + valueMax)
    const b = this.buf
    const at = this.len
    let p = at + RECORD_HEADER
    b.writeUInt32LE(serial, p)
    p += 6
    const nameStart = p
    p += typeof name === 'string' ? b.write(name, p, 'utf8') : (b.set(name, p), name.length)
    b.writeUInt16LE(p - nameStart, nameStart - 2)
    p += typeof value === 'string' ? b.write(value, p, 'utf8') : (b.set(value, p), value.length)
    this.header(at, slot, op.HEADER, 0, 0, p - at - RECORD_HEADER)
    this.len = p
    this.schedule()
  }
}

// Response states, as the Rust writer's.
const PENDING = 0
const HEADERS = 1
const STREAMING = 2
const SIZED = 3

/** The response to one HTTP request, uWS.js style. Every method throws once the response
 * ended or was aborted (check `aborted`, or use onAborted). */
class HttpResponse {
  constructor(http, slot, serial, address, head) {
    this._http = http
    this._slot = slot
    this._serial = serial
    this._address = address
    this._head = head
    this._state = PENDING
    this._status = 200
    /** tryEnd: bytes still owed. */
    this._remaining = 0
    /** Body bytes written (getWriteOffset). */
    this._offset = 0
    /** Bytes packed for this response and not yet flushed to Rust, valid in `_epoch`. */
    this._pending = 0
    this._epoch = -1
    this._done = false
    this.aborted = false
    this._onAborted = null
    this._onData = null
    this._onWritable = null
  }

  _check() {
    if (this._done) throw new Error(this.aborted ? ABORTED : ENDED)
  }

  _bodyAllowed() {
    return this._status !== 204 && this._status !== 304
  }

  /** Packs a record for this response; returns the data's length in bytes. */
  _pack(opcode, flags, data, size) {
    const out = this._http.out
    if (this._epoch !== out.epoch) {
      this._epoch = out.epoch
      this._pending = 0
    }
    const len = out.record(this._slot, opcode, flags, this._serial, data, size)
    if (out.epoch !== this._epoch) {
      // Flushed meanwhile (auto flush or a large direct write): Rust counts it now.
      this._epoch = out.epoch
      this._pending = 0
    } else {
      this._pending += len
    }
    return len
  }

  /** Whether the queued bytes are under the high-water mark. */
  _ok() {
    const pending = this._epoch === this._http.out.epoch ? this._pending : 0
    return this._http.buffered[this._slot] + pending <= HIGH_WATER
  }

  _finish() {
    if (this._done) return
    this._done = true
    this._onData = null
    this._onWritable = null
    const http = this._http
    if (http.current[this._slot] === this) http.current[this._slot] = undefined
    http.pending.delete(this)
    http.app._releaseRef()
  }

  /** The client went away (or close() was called): onAborted runs once. */
  _abort() {
    if (this._done) return
    this.aborted = true
    const cb = this._onAborted
    this._finish()
    this._onAborted = null
    if (cb) cb()
  }

  writeStatus(status) {
    this._check()
    const [data, text] = headerText(status)
    if (this._state !== PENDING) throw new Error(this._state === HEADERS ? STATUS_TWICE : BODY_STARTED)
    if (!STATUS_RE.test(text)) throw new Error(BAD_STATUS)
    this._status = Number(text.slice(0, 3))
    this._state = HEADERS
    this._pack(op.STATUS, 0, data)
    return this
  }

  writeHeader(key, value) {
    this._check()
    if (this._state >= STREAMING) throw new Error(BODY_STARTED)
    const [name, nameText] = headerText(key)
    const [val, valueText] = headerText(value)
    if (!TOKEN_RE.test(nameText)) throw new Error(BAD_NAME)
    if (!FIELD_RE.test(valueText)) throw new Error(BAD_VALUE)
    const lower = nameText.toLowerCase()
    if (lower === 'content-length' || lower === 'transfer-encoding') throw new Error(FRAMING)
    this._state = HEADERS
    this._http.out.headerRecord(this._slot, this._serial, name, val)
    return this
  }

  /** Streams part of the body (chunked). False when the queued bytes are over the
   * high-water mark: wait for onWritable before writing more. */
  write(chunk) {
    this._check()
    if (this._state === SIZED) throw new Error(MIXED)
    const data = dataOf(chunk)
    if (this._state < STREAMING) {
      if (!this._bodyAllowed()) throw new Error(NO_BODY)
      this._state = STREAMING
    }
    this._offset += this._pack(op.WRITE, 0, data)
    if (this._ok()) return true
    this._pack(op.WRITABLE, 0)
    return false
  }

  /** Ends the response with `body` (Content-Length, or the last chunk after write()). */
  end(body, closeConnection = false) {
    this._check()
    const data = body === undefined || body === null ? undefined : dataOf(body)
    if (this._state < STREAMING) {
      if (!this._bodyAllowed() && byteLength(data) > 0) throw new Error(NO_BODY)
    } else if (this._state === SIZED && byteLength(data) > this._remaining) {
      throw new Error(SIZE)
    }
    this._offset += this._pack(op.END, closeConnection ? FLAG_CLOSE : 0, data)
    this._finish()
    return this
  }

  /** Ends without a body; `reportedContentLength` is sent as Content-Length (HEAD, 304). */
  endWithoutBody(reportedContentLength, closeConnection = false) {
    this._check()
    let length = reportedContentLength
    if (length !== undefined && length !== null) {
      checkSize(length, 'reportedContentLength')
      const allowed = (this._head && this._bodyAllowed()) || this._status === 304
      // A GET answered with "length 0, no body" is honest: send it as such.
      if (length === 0 && !allowed && this._state < STREAMING) length = undefined
      else if (!allowed || this._state >= STREAMING) throw new Error(LENGTH)
    } else {
      length = undefined
    }
    let flags = closeConnection ? FLAG_CLOSE : 0
    if (length !== undefined) flags |= FLAG_HAS_LENGTH
    this._pack(op.END_WITHOUT_BODY, flags, undefined, length)
    this._finish()
    return this
  }

  /** Writes `chunk` of a body of `totalSize` bytes (Content-Length). Returns [ok, done]:
   * done once all totalSize bytes were given; ok false when the queued bytes are over
   * the high-water mark (wait for onWritable). The chunk is always taken whole, so
   * getWriteOffset() already counts it. */
  tryEnd(chunk, totalSize) {
    this._check()
    checkSize(totalSize, 'totalSize')
    const data = dataOf(chunk)
    const len = byteLength(data)
    if (this._state === STREAMING) throw new Error(MIXED)
    if (this._state < STREAMING) {
      if (!this._bodyAllowed() && totalSize > 0) throw new Error(NO_BODY)
      if (len > totalSize) throw new Error(SIZE)
      this._remaining = totalSize
      this._state = SIZED
    } else if (len > this._remaining) {
      throw new Error(SIZE)
    }
    this._pack(op.TRY_END, 0, data, totalSize)
    this._remaining -= len
    this._offset += len
    if (this._remaining === 0) {
      this._finish()
      return [true, true]
    }
    if (this._ok()) return [true, false]
    this._pack(op.WRITABLE, 0)
    return [false, false]
  }

  getWriteOffset() {
    this._check()
    return this._offset
  }

  /** `handler(offset)` runs once the queued bytes were written, after write/tryEnd
   * returned false (once per such return). Its return value is not used. */
  onWritable(handler) {
    this._check()
    this._onWritable = handler
    return this
  }

  onAborted(handler) {
    this._check()
    this._onAborted = handler
    return this
  }

  /** `handler(chunk, isLast)` receives the request body. Register it in the route
   * handler itself (synchronously), as in uWS.js: otherwise the body is discarded. */
  onData(handler) {
    this._check()
    this._onData = handler
    return this
  }

  /** Runs `cb`; writes are batched per JS turn anyway. */
  cork(cb) {
    this._check()
    cb()
    return this
  }

  /** Closes the connection now, without (the rest of) a response; onAborted runs. */
  close() {
    this._check()
    this._pack(op.CLOSE, 0)
    this._abort()
    return this
  }

  /** Stops reading the request body (and the socket) until resume(). */
  pause() {
    this._check()
    this._pack(op.PAUSE, 0)
  }

  resume() {
    this._check()
    this._pack(op.RESUME, 0)
  }

  upgrade() {
    throw new Error('res.upgrade() is only available in the upgrade handler of a .ws() route')
  }

  getRemoteAddress() {
    this._check()
    return addressBytes(this._address)
  }

  getRemoteAddressAsText() {
    this._check()
    return addressTextBuffer(this._address)
  }

  getRemotePort() {
    this._check()
    return this._address[16] | (this._address[17] << 8)
  }
}

/** The request of an HTTP route handler: lib/upgrade.js's, plus setYield. */
class HttpRequest extends RequestBase {
  constructor(raw) {
    super(raw, [])
    this._yield = false
  }

  /** Offers the request to a route: its parameter values and names. */
  _route(params, names) {
    this._raw.params = params
    this._paramNames = names
    this._yield = false
  }

  /** true: this handler passes; the next matching route (or the 404) gets the request. */
  setYield(yield_) {
    this._yield = !!yield_
    return this
  }
}

/** Decodes the HTTP_REQUEST payload written by src/server/http/request.rs. */
function decodeRequest(b, start, end) {
  let at = start
  const u16 = () => {
    const n = b[at] | (b[at + 1] << 8)
    at += 2
    return n
  }
  const str = () => {
    const len = u16()
    const s = b.toString('utf8', at, at + len)
    at += len
    return s
  }
  const serial = b.readUInt32LE(at)
  at += 4
  const routes = []
  for (let n = b[at++]; n > 0; n--) {
    const route = u16()
    const params = []
    for (let p = b[at++]; p > 0; p--) params.push(str())
    routes.push([route, params])
  }
  const raw = { serial, routes, method: str(), url: str(), query: str(), headers: [], params: [] }
  for (let n = u16(); n > 0; n--) raw.headers.push([str(), str()])
  raw.address = new Uint8Array(b.subarray(at, Math.min(at + 18, end)))
  return raw
}

/** The HTTP side of one App. */
class Http {
  constructor(app) {
    this.app = app
    this.native = app._native
    this.out = new HttpOutbox(this.native)
    /** Bytes queued in Rust per slot, updated live by the I/O threads. */
    this.buffered = new Uint32Array(this.native.httpBufferedView())
    /** Per route: { handler, paramNames }. */
    this.routes = []
    /** The latest response per connection slot (events name slots). */
    this.current = []
    /** Responses not ended yet. */
    this.pending = new Set()
  }

  add(method, pattern, handler) {
    if (typeof pattern !== 'string') throw new TypeError('pattern must be a string')
    if (typeof handler !== 'function') throw new TypeError('handler must be a function')
    const route = this.native.httpRoute(method, pattern)
    this.routes[route] = {
      handler,
      paramNames: pattern
        .split('/')
        .filter((s) => s.startsWith(':'))
        .map((s) => s.slice(1)),
    }
  }

  /** One event of a batch (lib/app.js `_onWake`). */
  onEvent(kind, slot, flags, b, start, len) {
    switch (kind) {
      case HTTP_REQUEST:
        return this.request(slot, flags, b, start, start + len)
      case HTTP_DATA: {
        const res = this.current[slot]
        if (res === undefined || res._done || res._onData === null) return
        const handler = res._onData
        const last = (flags & 1) !== 0
        if (last) res._onData = null
        handler(b.buffer.slice(b.byteOffset + start, b.byteOffset + start + len), last)
        return
      }
      case HTTP_ABORTED: {
        const res = this.current[slot]
        if (res !== undefined && res._serial === b.readUInt32LE(start)) res._abort()
        return
      }
      case HTTP_WRITABLE: {
        const res = this.current[slot]
        if (res === undefined || res._done || res._serial !== b.readUInt32LE(start)) return
        if (res._onWritable) res._onWritable(res._offset)
        return
      }
    }
  }

  request(slot, flags, b, start, end) {
    const raw = decodeRequest(b, start, end)
    const res = new HttpResponse(this, slot, raw.serial, raw.address, (flags & HEAD) !== 0)
    this.current[slot] = res
    this.pending.add(res)
    this.app._retain()
    const req = new HttpRequest(raw)
    let taken = false
    try {
      for (const [route, params] of raw.routes) {
        const { handler, paramNames } = this.routes[route]
        req._route(params, paramNames)
        handler(res, req)
        if (!req._yield) {
          taken = true
          break
        }
      }
    } catch (err) {
      taken = true
      report(err)
    }
    if (!taken && !res._done) {
      try {
        res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('Not Found')
      } catch {
        // A yielding handler already started the response: end it as it is.
        res.end()
      }
    }
    const wanted = res._onData !== null && !res._done
    if (flags & HAS_BODY) {
      // Until this arrives Rust reads no body: it streams it, or drops it.
      res._pack(op.BODY, wanted ? 1 : 0)
    } else if (wanted) {
      // No body: onData hears of its (empty) end at once, as in uWS.js.
      const handler = res._onData
      res._onData = null
      handler(EMPTY, true)
    }
  }

  /** app.close() (idleOnly false): every pending response is aborted and every HTTP
   * connection dropped. shutdown() (true): idle connections close, pending responses may
   * finish (their connection closes after them). */
  close(idleOnly) {
    if (!idleOnly) for (const res of [...this.pending]) res._abort()
    this.out.flush()
    this.native.httpClose(idleOnly)
  }
}

function httpOf(app) {
  if (app._http === undefined) app._http = new Http(app)
  return app._http
}

/** Adds the route methods to TemplatedApp. */
function install(TemplatedApp) {
  for (const [name, method] of METHODS) {
    TemplatedApp.prototype[name] = function (pattern, handler) {
      httpOf(this).add(method, pattern, handler)
      return this
    }
  }
}

module.exports = { install, HttpResponse, HttpRequest }
