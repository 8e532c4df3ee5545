'use strict'
// The uWS.js-shaped WebSocket object: an id and user data; native state lives in Rust.
// Every open socket has one for its whole life: keep its fields few and small.
const { op, bytesOf, FLAG_MORE, FLAG_COMPRESS } = require('./outbox')
const { addressBytes, addressTextBuffer } = require('./address')

const CLOSED_ERROR = 'Invalid access of closed WebSocket'
/** userData of a socket no upgrade handler gave any: `{}` is made on first use. */
const NO_USER_DATA = Symbol('no user data')

// send() results, as uWS.js: written, buffered (backpressure), dropped.
const SUCCESS = 1
const BACKPRESSURE = 0
const DROPPED = 2

class WebSocket {
  constructor(app, id, route, userData, address) {
    this._app = app
    this._id = id
    this._route = route
    /** Bytes packed for this socket and not yet flushed to Rust, valid in `_epoch`. */
    this._pending = 0
    this._epoch = 0
    /** NO_USER_DATA until getUserData() creates it (no upgrade handler gave one). */
    this._userData = userData
    /** The peer address as JS reads it (16 bytes IPv6 or mapped IPv4, port LE) in a
     * latin1 string. */
    this._address = address
    this._closed = false
    /** A fragmented message in progress: null, 'sending', or 'dropped' (its first
     * fragment was refused, so the rest are refused too). */
    this._fragment = null
  }

  _check() {
    if (this._closed) throw new Error(CLOSED_ERROR)
  }

  send(message, isBinary = false, compress = false) {
    this._check()
    this._noFragment('send')
    return this._frame(isBinary ? op.BINARY : op.TEXT, compress ? FLAG_COMPRESS : 0, message, isBinary)
  }

  /** Starts a fragmented message; finish it with sendLastFragment. Publishes to this
   * socket wait until it is finished, so they never land between its fragments. */
  sendFirstFragment(message, isBinary = false, compress = false) {
    this._check()
    this._noFragment('sendFirstFragment')
    // Fragmented messages go uncompressed: `compress` is accepted and ignored.
    void compress
    const status = this._frame(isBinary ? op.BINARY : op.TEXT, FLAG_MORE, message, isBinary)
    this._fragment = status === DROPPED ? 'dropped' : 'sending'
    return status
  }

  sendFragment(message, compress = false) {
    return this._continuation(message, true, compress)
  }

  sendLastFragment(message, compress = false) {
    return this._continuation(message, false, compress)
  }

  _continuation(message, more, compress) {
    this._check()
    void compress
    if (this._fragment === null) throw new Error('No fragmented message in progress: call sendFirstFragment first')
    if (this._fragment === 'dropped') {
      if (!more) this._fragment = null
      return DROPPED
    }
    // Never dropped once started: a missing fragment would corrupt the stream.
    const status = this._frame(op.CONTINUATION, more ? FLAG_MORE : 0, message, true, false)
    if (!more) this._fragment = null
    return status
  }

  _noFragment(what) {
    if (this._fragment !== null) {
      throw new Error(`${what}() while a fragmented message is in progress: finish it with sendLastFragment()`)
    }
  }

  ping(message = '') {
    this._check()
    return this._frame(op.PING, 0, message, true)
  }

  /** Queues a frame unless the socket is past maxBackpressure; returns the uWS.js status. */
  _frame(opcode, flags, message, isBinary, mayDrop = true) {
    const out = this._app._out
    const route = this._app._routes[this._route]
    const limit = route.maxBackpressure
    const queued = this._app._bufferedView[this._id]
    const amount = queued + (this._epoch === out.epoch ? this._pending : 0)
    if (mayDrop && limit > 0 && amount > limit) {
      this._app._dropped(this, route, message, isBinary)
      return DROPPED
    }
    const len = out.frame(this._id, opcode, flags, message)
    if (len < 0) {
      // Written at once (a large frame): what the kernel did not take is queued in Rust.
      return this._app._bufferedView[this._id] > 0 ? BACKPRESSURE : SUCCESS
    }
    if (this._epoch !== out.epoch) {
      this._epoch = out.epoch
      this._pending = 0
    }
    this._pending += len
    return queued > 0 || (limit > 0 && amount + len > limit) ? BACKPRESSURE : SUCCESS
  }

  /** Starts the closing handshake; the close handler runs now, as in uWS.js. */
  end(code = 0, shortMessage) {
    this._check()
    if (!Number.isInteger(code) || code < 0 || code > 65535) {
      throw new RangeError('close code must be an integer between 0 and 65535')
    }
    let reason
    if (shortMessage !== undefined) {
      reason = typeof shortMessage === 'string' ? Buffer.from(shortMessage) : bytesOf(shortMessage)
    }
    this._app._out.command(this._id, op.END, 0, code, reason)
    // The close handler sees the code as given (0 when none), as in uWS.js.
    this._app._closed(this, code, reason)
  }

  /** Drops the connection without a closing handshake; the close handler runs now. */
  close() {
    this._check()
    this._app._out.command(this._id, op.CLOSE, 0, 0)
    this._app._closed(this, 1006, undefined)
  }

  /** Subscribes to a topic (any string); true, also when already subscribed (as uWS.js). */
  subscribe(topic) {
    this._check()
    const count = this._app._native.subscribe(this._id, topicString(topic))
    if (count >= 0) {
      this._hasTopics = true
      this._app._subscription(this, topic, count, count - 1)
    }
    return true
  }

  /** Unsubscribes; true only if the socket was subscribed. */
  unsubscribe(topic) {
    this._check()
    const count = this._app._native.unsubscribe(this._id, topicString(topic))
    if (count < 0) return false
    this._app._subscription(this, topic, count, count + 1)
    return true
  }

  isSubscribed(topic) {
    this._check()
    return this._app._native.isSubscribed(this._id, topicString(topic))
  }

  getTopics() {
    this._check()
    return this._hasTopics ? this._app._native.topicsOf(this._id) : []
  }

  /** Publishes to the topic's subscribers except this socket (unless `publishToSelf`). */
  publish(topic, message, isBinary = false, compress = false) {
    this._check()
    const self = this._app._routes[this._route].publishToSelf ? -1 : this._id
    return this._app._publish(topicString(topic), message, isBinary, self, compress) > 0
  }

  cork(cb) {
    this._check()
    this._app._cork(cb)
    return this
  }

  getUserData() {
    this._check()
    if (this._userData === NO_USER_DATA) this._userData = {}
    return this._userData
  }

  /** Bytes queued in user space: packed in JS this turn plus queued in Rust. */
  getBufferedAmount() {
    this._check()
    const pending = this._epoch === this._app._out.epoch ? this._pending : 0
    return this._app._bufferedView[this._id] + pending
  }

  /** The peer's address as 4 bytes (IPv4) or 16 bytes (IPv6). */
  getRemoteAddress() {
    this._check()
    return addressBytes(addressArray(this._address))
  }

  /** `127.0.0.1` for IPv4 peers, compressed text for IPv6 (uWS.js gives the long mapped form). */
  getRemoteAddressAsText() {
    this._check()
    return addressTextBuffer(addressArray(this._address))
  }

  getRemotePort() {
    this._check()
    return this._address.charCodeAt(16) | (this._address.charCodeAt(17) << 8)
  }
}

function addressArray(latin1) {
  return Buffer.from(latin1, 'latin1')
}

/** Topics are strings; ArrayBuffers and views are read as UTF-8 (as uWS.js accepts). */
function topicString(topic) {
  if (typeof topic === 'string') return topic
  if (topic instanceof ArrayBuffer || ArrayBuffer.isView(topic)) return Buffer.from(bytesOf(topic)).toString()
  throw new TypeError('topic must be a string')
}

module.exports = { WebSocket, CLOSED_ERROR, NO_USER_DATA, topicString }
