'use strict'
// The `upgrade(res, req, context)` handler's objects, in the shape of uWS.js's
// HttpRequest and HttpResponse. Unlike uWS.js, `req` stays valid after the handler
// returns, and a handler that never answers just leaves the request pending.
const { bytesOf } = require('./outbox')
const { addressBytes, addressTextBuffer } = require('./address')

const decoder = new TextDecoder()

/** Decodes the request record written by src/server/upgrade.rs. */
function decodeRequest(b, start, end) {
  let at = start
  const str = () => {
    const len = b[at] | (b[at + 1] << 8)
    const s = decoder.decode(b.subarray(at + 2, at + 2 + len))
    at += 2 + len
    return s
  }
  const count = () => {
    const n = b[at] | (b[at + 1] << 8)
    at += 2
    return n
  }
  const req = { method: str(), url: str(), query: str(), key: str(), protocols: str(), extensions: str() }
  req.headers = []
  for (let n = count(); n > 0; n--) req.headers.push([str(), str()])
  req.params = []
  for (let n = count(); n > 0; n--) req.params.push(str())
  req.address = new Uint8Array(b.subarray(at, Math.min(at + 18, end)))
  return req
}

class HttpRequest {
  constructor(raw, paramNames) {
    this._raw = raw
    this._paramNames = paramNames
  }

  /** A header by lowercase name; '' when absent (as uWS.js). */
  getHeader(lowercaseKey) {
    const key = String(lowercaseKey)
    for (const [name, value] of this._raw.headers) if (name === key) return value
    return ''
  }

  getUrl() {
    return this._raw.url
  }

  getMethod() {
    return this._raw.method.toLowerCase()
  }

  getCaseSensitiveMethod() {
    return this._raw.method
  }

  /** The whole query string without '?', or one decoded value (undefined if absent). */
  getQuery(key) {
    const query = this._raw.query
    // As uWS.js: no query string reads as undefined.
    if (key === undefined) return query === '' ? undefined : query
    for (const pair of query.split('&')) {
      const eq = pair.indexOf('=')
      const name = eq < 0 ? pair : pair.slice(0, eq)
      if (safeDecode(name) === key) return eq < 0 ? '' : safeDecode(pair.slice(eq + 1))
    }
    return undefined
  }

  /** A route parameter by index or by name (without ':'). */
  getParameter(indexOrName) {
    const i = typeof indexOrName === 'number' ? indexOrName : this._paramNames.indexOf(String(indexOrName))
    return i >= 0 ? this._raw.params[i] : undefined
  }

  forEach(cb) {
    for (const [name, value] of this._raw.headers) cb(name, value)
  }

  setYield() {
    return this
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

function checkHeaderText(s, what) {
  const text = typeof s === 'string' ? s : Buffer.from(bytesOf(s)).toString()
  if (/[\r\n]/.test(text)) throw new TypeError(`${what} must not contain CR or LF`)
  return text
}

const ANSWERED = 'Invalid access of answered or aborted HttpResponse'

/** The response side of a pending upgrade request. */
class UpgradeResponse {
  constructor(app, id, raw) {
    this._app = app
    this._id = id
    this._raw = raw
    this._status = null
    this._headers = []
    this._done = false
    this.aborted = false
    this._onAborted = null
  }

  _check() {
    if (this._done) throw new Error(ANSWERED)
  }

  _finish() {
    this._done = true
    this._app._pendingUpgrades.delete(this._id)
  }

  /** Accepts: the 101 carries the status's headers; `userData`'s properties are copied
   * onto the WebSocket, which `getUserData()` returns (as uWS.js). */
  upgrade(userData, secWebSocketKey, secWebSocketProtocol, secWebSocketExtensions, context) {
    this._check()
    void context
    // uWS.js crashes on a primitive here.
    if (userData != null && typeof userData !== 'object' && typeof userData !== 'function') {
      throw new TypeError('userData must be an object')
    }
    const extensions = secWebSocketExtensions === undefined || secWebSocketExtensions === null ? '' : checkHeaderText(secWebSocketExtensions, 'extensions')
    const key = typeof secWebSocketKey === 'string' && secWebSocketKey ? secWebSocketKey : this._raw.key
    // A raw offer list ("chat, superchat") is not a valid answer: pick its first entry.
    let protocol = secWebSocketProtocol === undefined ? '' : checkHeaderText(secWebSocketProtocol, 'protocol')
    protocol = protocol.split(',')[0].trim()
    const headers = this._headers.flat()
    this._finish()
    // Copied now, as uWS.js does in res.upgrade(): later changes to the object are not seen.
    this._app._userData.set(this._id, userData == null ? undefined : { ...userData })
    if (!this._app._native.acceptUpgrade(this._id, checkHeaderText(key, 'key'), protocol || null, extensions, headers)) {
      this._app._userData.delete(this._id)
    }
  }

  writeStatus(status) {
    this._check()
    this._status = checkHeaderText(status, 'status')
    return this
  }

  writeHeader(key, value) {
    this._check()
    this._headers.push([checkHeaderText(key, 'header name'), checkHeaderText(value, 'header value')])
    return this
  }

  /** Rejects the upgrade with this response (status from writeStatus, default 200 OK). */
  end(body, closeConnection) {
    this._check()
    void closeConnection
    const bytes = body === undefined ? new Uint8Array(0) : typeof body === 'string' ? Buffer.from(body) : bytesOf(body)
    this._finish()
    this._app._native.rejectUpgrade(this._id, this._status || '200 OK', this._headers.flat(), bytes)
    return this
  }

  /** Closes the connection without a response. */
  close() {
    this._check()
    this._finish()
    this._app._native.rejectUpgrade(this._id, '', [], new Uint8Array(0))
    return this
  }

  onAborted(cb) {
    this._onAborted = cb
    return this
  }

  cork(cb) {
    cb()
    return this
  }

  getRemoteAddress() {
    return addressBytes(this._raw.address)
  }

  getRemoteAddressAsText() {
    return addressTextBuffer(this._raw.address)
  }

  getRemotePort() {
    return this._raw.address[16] | (this._raw.address[17] << 8)
  }

  /** The client went away before an answer. */
  _abort() {
    this.aborted = true
    this._finish()
    if (this._onAborted) this._onAborted()
  }
}

module.exports = { decodeRequest, HttpRequest, UpgradeResponse }
