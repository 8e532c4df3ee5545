'use strict'
// The uWS.js-shaped WebSocket object: an id and user data; native state lives in Rust.
// Every open socket has one for its whole life: keep its fields few and small.
// As in uWS.js the socket is its own user data: `res.upgrade(userData, ...)` copies the
// user data's properties onto it and `getUserData()` returns it. rsws's own state is in
// private fields, so user data cannot clash with it and is all that enumerates.
const { op, bytesOf, FLAG_MORE, FLAG_COMPRESS } = require('./outbox')
const { addressBytes, addressTextBuffer } = require('./address')

const CLOSED_ERROR = 'Invalid access of closed WebSocket'

// send() results, as uWS.js: written, buffered (backpressure), dropped.
const SUCCESS = 1
const BACKPRESSURE = 0
const DROPPED = 2

/** The App's access to a socket's private state (set in the class's static block). */
let internals

class WebSocket {
  #app
  #id
  #route
  /** Bytes packed for this socket and not yet flushed to Rust, valid in `#epoch`. */
  #pending = 0
  #epoch = 0
  /** The peer address as JS reads it (16 bytes IPv6 or mapped IPv4, port LE) in a latin1
   * string. */
  #address
  #closed = false
  /** Set once closeOnBackpressureLimit scheduled the close. */
  #closing = false
  #hasTopics = false
  /** A fragmented message in progress: null, 'sending', or 'dropped' (its first fragment
   * was refused, so the rest are refused too). */
  #fragment = null

  /** `userData`: what the upgrade handler gave `res.upgrade()` (an object), or undefined. */
  constructor(app, id, route, userData, address) {
    this.#app = app
    this.#id = id
    this.#route = route
    this.#address = address
    if (userData != null) Object.assign(this, userData)
  }

  static {
    internals = {
      id: (ws) => ws.#id,
      route: (ws) => ws.#route,
      isClosed: (ws) => ws.#closed,
      hasTopics: (ws) => ws.#hasTopics,
      markClosed(ws) {
        ws.#closed = true
      },
      /** True the first time: the caller schedules the close. */
      startClosing(ws) {
        if (ws.#closing) return false
        ws.#closing = true
        return true
      },
    }
  }

  #check() {
    if (this.#closed) throw new Error(CLOSED_ERROR)
  }

  send(message, isBinary = false, compress = false) {
    this.#check()
    this.#noFragment('send')
    return this.#frame(isBinary ? op.BINARY : op.TEXT, compress ? FLAG_COMPRESS : 0, message, isBinary)
  }

  /** Starts a fragmented message; finish it with sendLastFragment. Publishes to this
   * socket wait until it is finished, so they never land between its fragments. */
  sendFirstFragment(message, isBinary = false, compress = false) {
    this.#check()
    this.#noFragment('sendFirstFragment')
    // Fragmented messages go uncompressed: `compress` is accepted and ignored.
    void compress
    const status = this.#frame(isBinary ? op.BINARY : op.TEXT, FLAG_MORE, message, isBinary)
    this.#fragment = status === DROPPED ? 'dropped' : 'sending'
    return status
  }

  sendFragment(message, compress = false) {
    return this.#continuation(message, true, compress)
  }

  sendLastFragment(message, compress = false) {
    return this.#continuation(message, false, compress)
  }

  #continuation(message, more, compress) {
    this.#check()
    void compress
    if (this.#fragment === null) throw new Error('No fragmented message in progress: call sendFirstFragment first')
    if (this.#fragment === 'dropped') {
      if (!more) this.#fragment = null
      return DROPPED
    }
    // Never dropped once started: a missing fragment would corrupt the stream.
    const status = this.#frame(op.CONTINUATION, more ? FLAG_MORE : 0, message, true, false)
    if (!more) this.#fragment = null
    return status
  }

  #noFragment(what) {
    if (this.#fragment !== null) {
      throw new Error(`${what}() while a fragmented message is in progress: finish it with sendLastFragment()`)
    }
  }

  ping(message = '') {
    this.#check()
    return this.#frame(op.PING, 0, message, true)
  }

  /** Queues a frame unless the socket is past maxBackpressure; returns the uWS.js status. */
  #frame(opcode, flags, message, isBinary, mayDrop = true) {
    const out = this.#app._out
    const route = this.#app._routes[this.#route]
    const limit = route.maxBackpressure
    const queued = this.#app._bufferedView[this.#id]
    const amount = queued + (this.#epoch === out.epoch ? this.#pending : 0)
    if (mayDrop && limit > 0 && amount > limit) {
      this.#app._dropped(this, route, message, isBinary)
      return DROPPED
    }
    const len = out.frame(this.#id, opcode, flags, message)
    if (len < 0) {
      // Written at once (a large frame): what the kernel did not take is queued in Rust.
      return this.#app._bufferedView[this.#id] > 0 ? BACKPRESSURE : SUCCESS
    }
    if (this.#epoch !== out.epoch) {
      this.#epoch = out.epoch
      this.#pending = 0
    }
    this.#pending += len
    return queued > 0 || (limit > 0 && amount + len > limit) ? BACKPRESSURE : SUCCESS
  }

  /** Starts the closing handshake; the close handler runs now, as in uWS.js. */
  end(code = 0, shortMessage) {
    this.#check()
    if (!Number.isInteger(code) || code < 0 || code > 65535) {
      throw new RangeError('close code must be an integer between 0 and 65535')
    }
    let reason
    if (shortMessage !== undefined) {
      reason = typeof shortMessage === 'string' ? Buffer.from(shortMessage) : bytesOf(shortMessage)
    }
    this.#app._out.command(this.#id, op.END, 0, code, reason)
    // The close handler sees the code as given (0 when none), as in uWS.js.
    this.#app._closed(this, code, reason)
  }

  /** Drops the connection without a closing handshake; the close handler runs now. */
  close() {
    this.#check()
    this.#app._out.command(this.#id, op.CLOSE, 0, 0)
    this.#app._closed(this, 1006, undefined)
  }

  /** Subscribes to a topic (any string); true, also when already subscribed (as uWS.js). */
  subscribe(topic) {
    this.#check()
    const count = this.#app._native.subscribe(this.#id, topicString(topic))
    if (count >= 0) {
      this.#hasTopics = true
      this.#app._subscription(this, topic, count, count - 1)
    }
    return true
  }

  /** Unsubscribes; true only if the socket was subscribed. */
  unsubscribe(topic) {
    this.#check()
    const count = this.#app._native.unsubscribe(this.#id, topicString(topic))
    if (count < 0) return false
    this.#app._subscription(this, topic, count, count + 1)
    return true
  }

  isSubscribed(topic) {
    this.#check()
    return this.#app._native.isSubscribed(this.#id, topicString(topic))
  }

  getTopics() {
    this.#check()
    return this.#hasTopics ? this.#app._native.topicsOf(this.#id) : []
  }

  /** Publishes to the topic's subscribers except this socket (unless `publishToSelf`). */
  publish(topic, message, isBinary = false, compress = false) {
    this.#check()
    const self = this.#app._routes[this.#route].publishToSelf ? -1 : this.#id
    return this.#app._publish(topicString(topic), message, isBinary, self, compress) > 0
  }

  cork(cb) {
    this.#check()
    this.#app._cork(cb)
    return this
  }

  /** The socket itself, carrying the user data's properties (as uWS.js). */
  getUserData() {
    this.#check()
    return this
  }

  /** Bytes queued in user space: packed in JS this turn plus queued in Rust. */
  getBufferedAmount() {
    this.#check()
    const pending = this.#epoch === this.#app._out.epoch ? this.#pending : 0
    return this.#app._bufferedView[this.#id] + pending
  }

  /** The peer's address as 4 bytes (IPv4) or 16 bytes (IPv6). */
  getRemoteAddress() {
    this.#check()
    return addressBytes(addressArray(this.#address))
  }

  /** `127.0.0.1` for IPv4 peers, compressed text for IPv6 (uWS.js gives the long mapped form). */
  getRemoteAddressAsText() {
    this.#check()
    return addressTextBuffer(addressArray(this.#address))
  }

  getRemotePort() {
    this.#check()
    return this.#address.charCodeAt(16) | (this.#address.charCodeAt(17) << 8)
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

module.exports = { WebSocket, CLOSED_ERROR, internals, topicString }
