'use strict'
// The uWS.js-shaped WebSocket object: an id and user data; native state lives in Rust.
// Every open socket has one for its whole life: keep its fields few and small.
// As in uWS.js the socket is its own user data: `res.upgrade(userData, ...)` copies the
// user data's properties onto it and `getUserData()` returns it. rsws's own state is in
// private fields, so user data cannot clash with it and is all that enumerates.
const { op, bytesOf, FLAG_MORE, FLAG_COMPRESS } = require('./outbox')
const { addressBytes, addressTextBuffer } = require('./address')

const CLOSED_ERROR = 'Invalid access of closed WebSocket'
/** A peer address as Rust stores it per socket id (src/server/addresses.rs): 16 bytes
 * (IPv6, or IPv4 mapped), then the port, little-endian. */
const ADDRESS_BYTES = 18

// send() results, as uWS.js: written, buffered (backpressure), dropped.
const SUCCESS = 1
const BACKPRESSURE = 0
const DROPPED = 2

/** The App's access to a socket's private state (set in the class's static block). */
let internals

// #state bits. A fragmented message in progress is FRAGMENT_SENDING, or FRAGMENT_DROPPED
// when its first fragment was refused (the rest are refused too).
const CLOSED = 1
/** Set once closeOnBackpressureLimit scheduled the close. */
const CLOSING = 2
const HAS_TOPICS = 4
const FRAGMENT_SENDING = 8
const FRAGMENT_DROPPED = 16
const FRAGMENT = FRAGMENT_SENDING | FRAGMENT_DROPPED

class WebSocket {
  /** The route's record (behaviour, resolved options, and the App as `app`). */
  #route
  #id
  /** Bytes packed for this socket and not yet flushed to Rust, valid in `#epoch`. */
  #pending = 0
  #epoch = 0
  /** CLOSED, CLOSING, HAS_TOPICS and the fragment state, as bits. */
  #state = 0

  /** `userData`: what the upgrade handler gave `res.upgrade()` (an object), or undefined. */
  constructor(route, id, userData) {
    this.#route = route
    this.#id = id
    if (userData != null) Object.assign(this, userData)
  }

  static {
    internals = {
      id: (ws) => ws.#id,
      route: (ws) => ws.#route,
      isClosed: (ws) => (ws.#state & CLOSED) !== 0,
      hasTopics: (ws) => (ws.#state & HAS_TOPICS) !== 0,
      markClosed(ws) {
        ws.#state |= CLOSED
      },
      /** True the first time: the caller schedules the close. */
      startClosing(ws) {
        if ((ws.#state & CLOSING) !== 0) return false
        ws.#state |= CLOSING
        return true
      },
    }
  }

  #check() {
    if ((this.#state & CLOSED) !== 0) throw new Error(CLOSED_ERROR)
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
    this.#state |= status === DROPPED ? FRAGMENT_DROPPED : FRAGMENT_SENDING
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
    const fragment = this.#state & FRAGMENT
    if (fragment === 0) throw new Error('No fragmented message in progress: call sendFirstFragment first')
    if (fragment === FRAGMENT_DROPPED) {
      if (!more) this.#state &= ~FRAGMENT
      return DROPPED
    }
    // Never dropped once started: a missing fragment would corrupt the stream.
    const status = this.#frame(op.CONTINUATION, more ? FLAG_MORE : 0, message, true, false)
    if (!more) this.#state &= ~FRAGMENT
    return status
  }

  #noFragment(what) {
    if ((this.#state & FRAGMENT) !== 0) {
      throw new Error(`${what}() while a fragmented message is in progress: finish it with sendLastFragment()`)
    }
  }

  ping(message = '') {
    this.#check()
    return this.#frame(op.PING, 0, message, true)
  }

  /** Queues a frame unless the socket is past maxBackpressure; returns the uWS.js status. */
  #frame(opcode, flags, message, isBinary, mayDrop = true) {
    const route = this.#route
    const app = route.app
    const out = app._out
    const limit = route.maxBackpressure
    const queued = app._bufferedView[this.#id]
    const amount = queued + (this.#epoch === out.epoch ? this.#pending : 0)
    if (mayDrop && limit > 0 && amount > limit) {
      app._dropped(this, route, message, isBinary)
      return DROPPED
    }
    const len = out.frame(this.#id, opcode, flags, message)
    if (len < 0) {
      // Written at once (a large frame): what the kernel did not take is queued in Rust.
      return app._bufferedView[this.#id] > 0 ? BACKPRESSURE : SUCCESS
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
    this.#route.app._out.command(this.#id, op.END, 0, code, reason)
    // The close handler sees the code as given (0 when none), as in uWS.js.
    this.#route.app._closed(this, code, reason)
  }

  /** Drops the connection without a closing handshake; the close handler runs now. */
  close() {
    this.#check()
    this.#route.app._out.command(this.#id, op.CLOSE, 0, 0)
    this.#route.app._closed(this, 1006, undefined)
  }

  /** Subscribes to a topic (any string); true, also when already subscribed (as uWS.js). */
  subscribe(topic) {
    this.#check()
    const count = this.#route.app._native.subscribe(this.#id, topicString(topic))
    if (count >= 0) {
      this.#state |= HAS_TOPICS
      this.#route.app._subscription(this, topic, count, count - 1)
    }
    return true
  }

  /** Unsubscribes; true only if the socket was subscribed. */
  unsubscribe(topic) {
    this.#check()
    const count = this.#route.app._native.unsubscribe(this.#id, topicString(topic))
    if (count < 0) return false
    this.#route.app._subscription(this, topic, count, count + 1)
    return true
  }

  isSubscribed(topic) {
    this.#check()
    return this.#route.app._native.isSubscribed(this.#id, topicString(topic))
  }

  getTopics() {
    this.#check()
    return (this.#state & HAS_TOPICS) !== 0 ? this.#route.app._native.topicsOf(this.#id) : []
  }

  /** Publishes to the topic's subscribers except this socket (unless `publishToSelf`). */
  publish(topic, message, isBinary = false, compress = false) {
    this.#check()
    const self = this.#route.publishToSelf ? -1 : this.#id
    return this.#route.app._publish(topicString(topic), message, isBinary, self, compress) > 0
  }

  cork(cb) {
    this.#check()
    this.#route.app._cork(cb)
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
    const pending = this.#epoch === this.#route.app._out.epoch ? this.#pending : 0
    return this.#route.app._bufferedView[this.#id] + pending
  }

  /** The peer's address as 4 bytes (IPv4) or 16 bytes (IPv6). */
  getRemoteAddress() {
    this.#check()
    return addressBytes(this.#addressEntry())
  }

  /** `127.0.0.1` for IPv4 peers, compressed text for IPv6 (uWS.js gives the long mapped form). */
  getRemoteAddressAsText() {
    this.#check()
    return addressTextBuffer(this.#addressEntry())
  }

  getRemotePort() {
    this.#check()
    const a = this.#addressEntry()
    return a[16] | (a[17] << 8)
  }

  /** This socket's entry in the App's address table (see `App._addressView`). */
  #addressEntry() {
    const at = this.#id * ADDRESS_BYTES
    return this.#route.app._addressView.subarray(at, at + ADDRESS_BYTES)
  }
}

/** Topics are strings; ArrayBuffers and views are read as UTF-8 (as uWS.js accepts). */
function topicString(topic) {
  if (typeof topic === 'string') return topic
  if (topic instanceof ArrayBuffer || ArrayBuffer.isView(topic)) return Buffer.from(bytesOf(topic)).toString()
  throw new TypeError('topic must be a string')
}

module.exports = { WebSocket, CLOSED_ERROR, ADDRESS_BYTES, internals, topicString }
