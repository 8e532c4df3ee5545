'use strict'
// App(): routes and behaviours, listening, and the dispatch of event batches from Rust.
const { NativeApp } = require('./native')
const { Outbox, op, bytesOf } = require('./outbox')
const { WebSocket, ADDRESS_BYTES, internals, topicString } = require('./websocket')
const { decodeRequest, HttpRequest, UpgradeResponse } = require('./upgrade')

const { id: idOf, route: routeOf, isClosed, hasTopics, markClosed, startClosing } = internals

// Event kinds, mirrored in src/server/events.rs.
const OPEN = 1
const MESSAGE = 2
const MESSAGE_LARGE = 3
const CLOSE = 4
const PING = 5
const PONG = 6
const DRAIN = 7
const DROPPED = 8
const UPGRADE = 9
const ABORTED = 10
const HEADER = 12
/** Bytes of the reusable event inbox: queued records are copied into it, this much at a time. */
const INBOX = 256 * 1024
/** Record bytes dispatched per wake before the event loop gets a turn. */
const WAKE_BUDGET = 4 * 1024 * 1024

const LIBUS_LISTEN_EXCLUSIVE_PORT = 1
const { compression } = require('./compression')
const { SHARED_COMPRESSOR } = compression

const EMPTY = new ArrayBuffer(0)
const textEncoder = new TextEncoder()

/** Apps that listen or have open sockets or pending requests: kept reachable here, since
 * the native side holds them only weakly (see wakeCallback). */
const live = new Set()

/** The function Rust calls to wake the JS thread. It holds its App weakly: a strong
 * reference from the threadsafe function (a GC root) would keep every App, closed or
 * not, and its native state alive forever. A live App is held by `live`; once closed and
 * unreachable it is collected, and the native side then closes whatever is left. */
function wakeCallback(app) {
  const ref = new WeakRef(app)
  return () => {
    const target = ref.deref()
    if (target !== undefined) target._onWake()
  }
}

/** Re-throws a handler's exception outside the batch so Node reports it as uncaught. */
function report(err) {
  process.nextTick(() => {
    throw err
  })
}

class ListenSocket {
  constructor(app, id, port) {
    this._app = app
    this._id = id
    this._port = port
    this._open = true
  }
}

/** A fresh ArrayBuffer holding a copy of `len` bytes of `ab` at `at`: what handlers get
 * (they may keep it). Faster than `ab.slice`, which runs in C++ and zero-fills before
 * copying. Up to 8 KiB zero-filling costs less than the C++ call of allocUnsafeSlow. */
function copyOut(ab, at, len) {
  const copy = len <= 8192 ? new Uint8Array(len) : Buffer.allocUnsafeSlow(len)
  copy.set(new Uint8Array(ab, at, len))
  return copy.buffer
}

/** `detachMessages` needs `ArrayBuffer.prototype.transfer` (Node 22 and later). */
const CAN_DETACH = typeof ArrayBuffer.prototype.transfer === 'function'
/** Buffers kept for reuse by routes with `detachMessages`, one per length: at most this
 * many lengths of small messages, and of large ones (filled by `largeMessage`) at most
 * this many lengths and bytes. */
const POOL_LENGTHS = 32
const POOL_LARGE = 256
const POOL_LARGE_BYTES = 4 * 1024 * 1024

/** The buffer `pool` keeps for `len`, taken out of it (undefined: none). The entry stays
 * (a Map shrinks on delete and grows again on the next set). */
function takeKept(pool, len) {
  const kept = pool.get(len)
  if (kept !== undefined) pool.set(len, undefined)
  return kept
}

function u32(b, at) {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
}

function behaviorNumber(behavior, key, fallback) {
  const v = behavior[key]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new TypeError(`${key} must be a non-negative number`)
  }
  return v
}

function detachOption(v) {
  if (v === undefined) return false
  if (typeof v !== 'boolean') throw new TypeError('detachMessages must be a boolean')
  return v
}

/** A uWS.js CompressOptions value (constants combined with `|`). */
function compressionOption(v) {
  if (v === undefined || v === false || v === null) return 0
  if (v === true) return SHARED_COMPRESSOR
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new TypeError('compression must be a CompressOptions value (e.g. SHARED_COMPRESSOR)')
  return v
}

class TemplatedApp {
  constructor(options = {}) {
    if (options.pubsub !== undefined && typeof options.pubsub !== 'string') {
      throw new TypeError('options.pubsub must be the name of a shared topic space')
    }
    const { maxConnections = 0, ioThreads } = options
    if (ioThreads !== undefined && (!Number.isInteger(ioThreads) || ioThreads < 0 || ioThreads > 64)) {
      throw new TypeError('options.ioThreads must be an integer from 0 (I/O on this thread) to 64')
    }
    if (!Number.isInteger(maxConnections) || maxConnections < 0 || maxConnections > 0xffffffff) {
      throw new TypeError('options.maxConnections must be a non-negative integer (0 = no limit)')
    }
    this._native = new NativeApp(wakeCallback(this), ioThreads, options.pubsub, maxConnections)
    // takeInto, takeLarge, largeMessage, releaseLarge, flush, sendDirect, publish,
    // publishText, subscribe, unsubscribe, isSubscribed, leaveAll and httpFlush: plain
    // N-API functions, as own properties (a generated method costs about 0.45 µs more
    // per call).
    this._native.installFastCalls(this._native)
    /** Event batches up to this size are copied here (see `_onWake`). */
    this._inbox = Buffer.allocUnsafe(INBOX)
    /** Detached messages' memory, reused (`detachMessages`), by length. A handler has one
     * message at a time, so one buffer per length is all a steady stream reuses. */
    this._pool = new Map()
    this._largePool = new Map()
    this._largeBytes = 0
    /** Native buffers the I/O threads write event records into: a batch that fits in one
     * is dispatched from it in place, valid until the next takeInto/take. */
    this._slabs = this._native.inboxSlabs().map((ab) => Buffer.from(ab))
    this._dispatching = 0
    /** See `_whileDispatching`. */
    this._lateOpen = undefined
    this._settled = []
    this._out = new Outbox(this._native)
    /** Bytes queued in Rust per socket id, updated live by the I/O threads. */
    this._bufferedView = new Uint32Array(this._native.bufferedView())
    /** Peer address per socket id, ADDRESS_BYTES each, written by Rust before the
     * socket's OPEN: read in place by WebSocket's getRemoteAddress() and the like. Covers
     * the ids seen so far (see `_coverAddress`). */
    this._addressView = new Uint8Array(this._native.addressView(64))
    /** Per route: the behaviour object and its resolved options. */
    this._routes = []
    this._sockets = []
    /** Upgrade requests waiting for the JS handler's answer, by request id. */
    this._pendingUpgrades = new Map()
    /** User data of accepted upgrades until their OPEN event. */
    this._userData = new Map()
    this._listeners = new Set()
    /** Callbacks told of every CLOSE event from Rust: (id, code), for shutdown(). */
    this._closeWaiters = new Set()
    this._active = 0
    this._connectionHold = false
  }

  ws(pattern, behavior = {}) {
    if (typeof pattern !== 'string') throw new TypeError('pattern must be a string')
    if (behavior === null || typeof behavior !== 'object') throw new TypeError('behavior must be an object')
    const maxBackpressure = behaviorNumber(behavior, 'maxBackpressure', 64 * 1024)
    const route = this._native.addRoute(pattern, {
      maxPayloadLength: behaviorNumber(behavior, 'maxPayloadLength', 16 * 1024),
      idleTimeout: behaviorNumber(behavior, 'idleTimeout', 120),
      maxLifetime: behaviorNumber(behavior, 'maxLifetime', 0),
      compression: compressionOption(behavior.compression),
      sendPingsAutomatically: behavior.sendPingsAutomatically !== false,
      maxBackpressure,
      closeOnBackpressureLimit: behavior.closeOnBackpressureLimit === true,
      hasDroppedHandler: typeof behavior.dropped === 'function',
      hasPingHandler: typeof behavior.ping === 'function',
      hasPongHandler: typeof behavior.pong === 'function',
      hasDrainHandler: typeof behavior.drain === 'function',
      hasUpgradeHandler: typeof behavior.upgrade === 'function',
      hasOpenHandler: typeof behavior.open === 'function',
    })
    this._routes[route] = {
      app: this,
      behavior,
      maxBackpressure,
      closeOnBackpressureLimit: behavior.closeOnBackpressureLimit === true,
      publishToSelf: behavior.publishToSelf === true,
      detachMessages: detachOption(behavior.detachMessages) && CAN_DETACH,
      paramNames: pattern
        .split('/')
        .filter((s) => s.startsWith(':'))
        .map((s) => s.slice(1)),
    }
    return this
  }

  /** listen(port, cb), listen(host, port, cb), listen(port, options, cb), listen(host, port, options, cb) */
  listen(...args) {
    const host = typeof args[0] === 'string' ? args.shift() : undefined
    const port = args.shift()
    const options = typeof args[0] === 'number' ? args.shift() : 0
    const cb = args[0]
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TypeError('port must be an integer between 0 and 65535')
    }
    if (typeof cb !== 'function') throw new TypeError('listen needs a callback')
    const result = this._native.listen(host, port, (options & LIBUS_LISTEN_EXCLUSIVE_PORT) !== 0)
    let token = false
    if (result) {
      token = new ListenSocket(this, result.id, result.port)
      this._listeners.add(token)
      this._retain()
    }
    cb(token)
    return this
  }

  /** listen_unix(cb, path): listens on a Unix domain socket (callback first, as uWS.js). */
  listen_unix(cb, path) {
    if (typeof cb !== 'function') throw new TypeError('listen_unix needs a callback')
    if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string')
    const result = this._native.listenUnix(path)
    let token = false
    if (result) {
      token = new ListenSocket(this, result.id, 0)
      this._listeners.add(token)
      this._retain()
    }
    cb(token)
    return this
  }

  /** Stops listening and refuses handshakes in progress; pending upgrades are answered. */
  _stopAccepting(status) {
    this._native.stopAccepting()
    for (const token of this._listeners) {
      token._open = false
      this._releaseRef()
    }
    this._listeners.clear()
    this._holdForConnections()
    // Connections the I/O threads accepted but whose open (or upgrade) event is still
    // queued: dispatch it now, so that the caller closes or ends them too, and pending
    // upgrades are refused below. No new one can be queued.
    this._onWake(true)
    for (const res of [...this._pendingUpgrades.values()]) {
      this._native.rejectUpgrade(res._id, status, [], textEncoder.encode(status ? 'Server closing' : ''))
      res._abort()
    }
  }

  /** uWS.js v20 semantics: stop listening and drop every connection now (no close
   * frame); each socket's close handler runs before this returns, with code 1006. */
  close() {
    this._whileDispatching((ws) => ws.close())
    this._stopAccepting('')
    if (this._http) this._http.close(false)
    for (const ws of this._sockets) if (ws !== undefined && !isClosed(ws)) ws.close()
    return this
  }

  /** Graceful: stops accepting, ends every socket with `code`/`reason`, and resolves
   * once every closing handshake finished or `timeoutMs` passed (the rest are dropped):
   * `{ sockets, graceful, forced }`. */
  shutdown(options = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    const { code = 1001, reason = '', timeoutMs = 10000 } = options
    if (!Number.isInteger(code) || code < 1000 || code > 4999) throw new RangeError('code must be a close code (1000-4999)')
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) throw new TypeError('timeoutMs must be a non-negative number')
    this._stopAccepting('503 Service Unavailable')
    if (this._http) this._http.close(true)
    const waiting = new Set()
    const result = { sockets: 0, graceful: 0, forced: 0 }
    for (const ws of this._sockets) {
      if (ws === undefined) continue
      // Sockets already ended by the app are waited for too; closed ones are not.
      waiting.add(idOf(ws))
      result.sockets++
      if (!isClosed(ws)) ws.end(code, reason)
    }
    this._out.flush()
    return new Promise((resolve) => {
      /** Called from a handler: sockets opened later in the batch are still to come. */
      let settling = true
      const done = () => {
        clearTimeout(timer)
        this._closeWaiters.delete(onClose)
        resolve(result)
      }
      const onClose = (id, closeCode) => {
        if (!waiting.delete(id)) return
        if (closeCode === 1006) result.forced++
        else result.graceful++
        if (waiting.size === 0 && !settling) done()
      }
      const timer = setTimeout(() => {
        for (const id of waiting) {
          const ws = this._sockets[id]
          if (ws !== undefined) this._out.command(id, op.CLOSE, 0, 0)
        }
        this._out.flush()
      }, timeoutMs)
      this._closeWaiters.add(onClose)
      this._whileDispatching(
        (ws) => {
          waiting.add(idOf(ws))
          result.sockets++
          ws.end(code, reason)
        },
        () => {
          settling = false
          if (waiting.size === 0) done()
        },
      )
    })
  }

  /** Called from a handler: sockets whose OPEN record comes later in the batches being
   * dispatched were not among `_sockets` when the App closed; each gets `then` right
   * after its `open` handler (so every `close` still follows an `open`). `settled`, if
   * given, runs once no such socket can come: when the outermost dispatch ends, or now. */
  _whileDispatching(then, settled) {
    if (this._dispatching === 0) {
      if (settled) settled()
      return
    }
    this._lateOpen = then
    if (settled) this._settled.push(settled)
  }

  _closeListener(token) {
    if (!token._open) return
    token._open = false
    this._native.closeListener(token._id)
    this._listeners.delete(token)
    this._holdForConnections()
    // While listening, a socket on a route without open and upgrade handlers gets its
    // OPEN event (and its WebSocket) only with its first other event. After the last
    // listener the native side queues every deferred OPEN: take them soon, so that each
    // socket's WebSocket exists and keeps the thread alive as in uWS.js. The immediate
    // holds the loop until then.
    if (this._listeners.size === 0) setImmediate(() => this._onWake())
    this._releaseRef()
  }

  /** Publishes to every subscriber of the topic; true if it has any (as uWS.js). */
  publish(topic, message, isBinary = false, compress = false) {
    return this._publish(topicString(topic), message, isBinary, -1, compress) > 0
  }

  /** Like publish, with what happened per subscriber: `{ sent, buffered, dropped }`. */
  publishWithStats(topic, message, isBinary = false, compress = false) {
    this._publish(topicString(topic), message, isBinary, -1, compress, true)
    const [sent, buffered, dropped] = this._native.lastPublishStats()
    return { sent, buffered, dropped }
  }

  numSubscribers(topic) {
    return this._native.numSubscribers(topicString(topic))
  }

  /** Every topic with at least one subscriber: `[{ topic, count }]`. */
  getTopics() {
    return this._native.topicCounts()
  }

  /** This app's sockets subscribed to the topic. */
  getSubscribers(topic) {
    return this._native.subscribers(topicString(topic)).map((id) => this._sockets[id]).filter((ws) => ws && !isClosed(ws))
  }

  /** `stats`: queue this publish at once, for `lastPublishStats` (otherwise it is
   * recorded and reaches its subscribers with the turn's other publishes, in order). */
  _publish(topic, message, isBinary, sender, compress, stats = false) {
    this._out.beforePublish()
    const found =
      typeof message === 'string'
        ? this._native.publishText(topic, sender, !!isBinary, !!compress, message, stats)
        : this._native.publish(topic, sender, !!isBinary, !!compress, bytesOf(message), stats)
    this._out.afterPublish()
    return found
  }

  _subscription(ws, topic, newCount, oldCount) {
    const handler = routeOf(ws).behavior.subscription
    if (!handler) return
    try {
      handler(ws, typeof topic === 'string' ? textEncoder.encode(topic).buffer : topic, newCount, oldCount)
    } catch (err) {
      report(err)
    }
  }

  /** A longer view of Rust's address table, so that it covers socket `id`. */
  _coverAddress(id) {
    const ids = Math.max(id + 1, (this._addressView.length / ADDRESS_BYTES) * 2)
    this._addressView = new Uint8Array(this._native.addressView(ids))
  }

  /** Without a listener, the thread is kept alive while the App holds any connection, as
   * uWS.js's sockets hold its loop: an HTTP connection, a handshake or an upgrade whose
   * WebSocket is still to come. Rust wakes JS when the last one ends. A count of 0 read
   * here means every event of those connections is queued already. */
  _holdForConnections() {
    const hold = this._listeners.size === 0 && this._native.connectionsHeld() > 0
    if (hold === this._connectionHold) return
    this._connectionHold = hold
    if (hold) this._retain()
    else this._releaseRef()
  }

  /** Keeps the process alive while something listens or a socket is open. */
  _retain() {
    if (this._active++ === 0) {
      live.add(this)
      this._native.setRef(true)
    }
  }

  _releaseRef() {
    if (--this._active === 0) {
      live.delete(this)
      this._native.setRef(false)
    }
  }

  _cork(cb) {
    this._out.hold()
    try {
      cb()
    } finally {
      this._out.release()
    }
  }

  /** A send refused by backpressure: `dropped` handler, and a close if configured. */
  _dropped(ws, route, message, isBinary) {
    if (route.closeOnBackpressureLimit && startClosing(ws)) {
      queueMicrotask(() => isClosed(ws) || ws.close())
    }
    const dropped = route.behavior.dropped
    if (dropped) {
      const bytes = typeof message === 'string' ? Buffer.from(message) : bytesOf(message)
      dropped(ws, new Uint8Array(bytes).buffer, isBinary)
    }
  }

  /** Marks a socket closed and runs its close handler (once). */
  _closed(ws, code, reason) {
    if (isClosed(ws)) return
    if (hasTopics(ws)) {
      // Leave every topic first: subscription events come before close, as in uWS.js.
      const left = this._native.leaveAll(idOf(ws))
      for (let i = 0; i < left.length; i += 2) this._subscription(ws, left[i], left[i + 1], left[i + 1] + 1)
    }
    markClosed(ws)
    const close = routeOf(ws).behavior.close
    if (close) {
      try {
        close(ws, code, reason ? new Uint8Array(reason).buffer : EMPTY)
      } catch (err) {
        report(err)
      }
    }
  }

  /** Dispatches the queued events; `drain`: all of them now (close() and shutdown()
   * must see every open), not a budget's worth and the rest after the event loop ran. */
  _onWake(drain = false) {
    if (this._connectionHold) this._holdForConnections()
    if (this._dispatching) {
      // Called from a handler while the inbox is in use: the queue as a buffer of its own.
      const b = this._native.take()
      if (b.length > 0) this._dispatch(b, this._native.takeLarge())
      return
    }
    // The queue comes in pieces: a slab the I/O threads filled (read in place), or as
    // many whole records as fit copied into the reusable inbox. Every piece is dispatched
    // (and its sends flushed) before the next is taken. Handlers only ever get copies.
    let budget = WAKE_BUDGET
    for (;;) {
      const r = this._native.takeInto(this._inbox)
      if (r === 0) return
      // -1: a record larger than the inbox; the rest of the queue comes as one buffer.
      // Otherwise the records are in the inbox (place 0) or in place in a slab.
      const place = (r >>> 2) & 3
      const b = r < 0 ? this._native.take() : (place === 0 ? this._inbox : this._slabs[place - 1]).subarray(0, r >>> 4)
      // A handle on the large payloads, taken now: a handler may take the next batch
      // (and with it the native side's list of large payloads) before this one is done.
      const large = r < 0 || (r & 2) !== 0 ? this._native.takeLarge() : -1
      if (b.length > 0) this._dispatch(b, large)
      if (r < 0 || (r & 1) === 0) return
      budget -= b.length
      if (budget <= 0 && !drain) {
        // Let the event loop run; the rest is taken right after.
        setImmediate(() => this._onWake())
        return
      }
    }
  }

  /** Large payload `index` of a batch (`large`: its `takeLarge` handle), `len` bytes, in
   * a kept buffer of that length if `detach` and there is one. Made right before its
   * handler runs, so that a send reads it from the cache. */
  _largeMessage(large, index, len, detach) {
    const kept = detach ? takeKept(this._largePool, len) : undefined
    if (kept !== undefined) this._largeBytes -= len
    return this._native.largeMessage(large, index, kept)
  }

  /** A small message copied into a kept buffer of its length, or a new one
   * (`detachMessages`). */
  _pooledCopy(b, start, len) {
    const message = takeKept(this._pool, len) ?? new ArrayBuffer(len)
    new Uint8Array(message).set(b.subarray(start, start + len))
    return message
  }

  /** Calls a `detachMessages` route's handler with `message`, then detaches it and keeps
   * its memory for a later message (`large`: for `largeMessage`). */
  _detached(handler, ws, message, isBinary, large) {
    try {
      handler(ws, message, isBinary)
    } finally {
      // Unless the handler took the memory itself (`message.transfer()`).
      if (!message.detached) this._keep(message.transfer(), large)
    }
  }

  /** Keeps a detached message's memory, within the pools' bounds. */
  _keep(kept, large) {
    const len = kept.byteLength
    if (large) {
      const pool = this._largePool
      if (pool.get(len) === undefined && (pool.size < POOL_LARGE || pool.has(len)) && this._largeBytes + len <= POOL_LARGE_BYTES) {
        pool.set(len, kept)
        this._largeBytes += len
      }
    } else if (this._pool.size < POOL_LENGTHS || this._pool.has(len)) {
      this._pool.set(len, kept)
    }
  }

  /** Runs the handlers of a buffer of event records; `large`: the payloads of its
   * MESSAGE_LARGE records (a `takeLarge` handle, -1: none), given back when done. */
  _dispatch(b, large) {
    this._dispatching++
    const ab = b.buffer
    const base = b.byteOffset
    let nextLarge = 0
    this._out.hold()
    try {
      for (let at = 0; at + HEADER <= b.length; ) {
        const id = u32(b, at)
        const kind = b[at + 4]
        const flags = b[at + 5]
        const extra = b[at + 6] | (b[at + 7] << 8)
        const len = u32(b, at + 8)
        const start = at + HEADER
        at = start + len
        try {
          switch (kind) {
            case MESSAGE:
            case MESSAGE_LARGE: {
              // Every MESSAGE_LARGE record has the next large payload, also when nobody
              // gets it (freed with the handle).
              const index = kind === MESSAGE_LARGE ? nextLarge++ : -1
              const ws = this._sockets[id]
              if (ws === undefined || isClosed(ws)) break
              const route = routeOf(ws)
              const handler = route.behavior.message
              if (!handler) break
              const isBinary = (flags & 1) !== 0
              const detach = route.detachMessages
              let message
              if (index >= 0) message = this._largeMessage(large, index, u32(b, start), detach)
              else message = detach ? this._pooledCopy(b, start, len) : copyOut(ab, base + start, len)
              if (detach) this._detached(handler, ws, message, isBinary, index >= 0)
              else handler(ws, message, isBinary)
              break
            }
            case OPEN: {
              const upgradeId = u32(b, start)
              let userData
              if (upgradeId !== 0) {
                userData = this._userData.get(upgradeId)
                this._userData.delete(upgradeId)
              }
              if ((id + 1) * ADDRESS_BYTES > this._addressView.length) this._coverAddress(id)
              const route = this._routes[extra]
              const ws = new WebSocket(route, id, userData)
              this._sockets[id] = ws
              this._retain()
              const handler = route.behavior.open
              if (handler) handler(ws)
              if (this._lateOpen !== undefined && !isClosed(ws)) this._lateOpen(ws)
              break
            }
            case CLOSE: {
              const ws = this._sockets[id]
              this._sockets[id] = undefined
              try {
                for (const waiter of this._closeWaiters) waiter(id, extra)
                if (ws !== undefined) {
                  this._releaseRef()
                  this._closed(ws, extra, b.subarray(start, start + len))
                }
              } finally {
                // Only now may Rust reuse the id: leaving the socket's topics (in _closed)
                // needs it, and any command may flush the outbox (past AUTO_FLUSH).
                this._out.command(id, op.RELEASE, 0, 0)
              }
              break
            }
            case PING:
            case PONG: {
              const ws = this._sockets[id]
              if (ws === undefined || isClosed(ws)) break
              const handler = routeOf(ws).behavior[kind === PING ? 'ping' : 'pong']
              if (handler) handler(ws, copyOut(ab, base + start, len))
              break
            }
            case UPGRADE: {
              const raw = decodeRequest(b, start, start + len)
              const route = this._routes[extra]
              const res = new UpgradeResponse(this, id, raw)
              this._pendingUpgrades.set(id, res)
              route.behavior.upgrade(res, new HttpRequest(raw, route.paramNames), {})
              break
            }
            case ABORTED: {
              const res = this._pendingUpgrades.get(id)
              if (res) res._abort()
              break
            }
            case DROPPED: {
              const ws = this._sockets[id]
              const handler = ws && !isClosed(ws) && routeOf(ws).behavior.dropped
              if (handler) handler(ws, copyOut(ab, base + start, len), (flags & 1) !== 0)
              break
            }
            case DRAIN: {
              const ws = this._sockets[id]
              if (ws === undefined || isClosed(ws)) break
              const handler = routeOf(ws).behavior.drain
              if (handler) handler(ws)
              break
            }
            default:
              // HTTP routes (lib/http.js).
              if (this._http) this._http.onEvent(kind, id, flags, b, start, len)
          }
        } catch (err) {
          report(err)
        }
      }
    } finally {
      const outermost = --this._dispatching === 0
      if (outermost) this._lateOpen = undefined
      if (large >= 0) this._native.releaseLarge(large)
      this._out.release()
      if (outermost && this._settled.length > 0) {
        const settled = this._settled
        this._settled = []
        for (const f of settled) f()
      }
    }
  }
}

require('./http').install(TemplatedApp)

function App(options) {
  return new TemplatedApp(options)
}

function us_listen_socket_close(token) {
  if (token instanceof ListenSocket) token._app._closeListener(token)
}

function us_socket_local_port(token) {
  return token instanceof ListenSocket && token._open ? token._port : -1
}

module.exports = { App, TemplatedApp, us_listen_socket_close, us_socket_local_port, LIBUS_LISTEN_EXCLUSIVE_PORT }
