'use strict'
// Sends from JS are packed into one buffer and handed to Rust once per JS turn (and at the
// end of each event batch and cork), never one native call per message.
// Record layout, mirrored in src/server/outbox.rs:
//   u32 id | u8 op | u8 flags | u16 code | u32 len | payload[len]

const HEADER = 12
const INITIAL = 64 * 1024
/** Payloads at least this large skip the packing copy and go to Rust directly (written
 * from where they lie; GATHER in src/server/outbox.rs). */
const DIRECT = 8 * 1024
/** Packed bytes that trigger a flush even inside a batch or cork, like uWS.js's cork
 * buffer filling up: backpressure is then judged by what the socket took, not by us. */
const AUTO_FLUSH = 64 * 1024

const op = { CONTINUATION: 0, TEXT: 1, BINARY: 2, PING: 9, PONG: 10, END: 0x80, CLOSE: 0x81, RELEASE: 0x82 }
const FLAG_MORE = 1
/** Compress this whole message if permessage-deflate was agreed. */
const FLAG_COMPRESS = 2

/** A Uint8Array view of any binary message type, or a TypeError. */
function bytesOf(message) {
  if (message instanceof Uint8Array) return message
  if (message instanceof ArrayBuffer || message instanceof SharedArrayBuffer) return new Uint8Array(message)
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
  throw new TypeError('message must be a string, an ArrayBuffer, a TypedArray, a DataView or a Buffer')
}

class Outbox {
  constructor(native) {
    this.native = native
    this.buf = Buffer.allocUnsafe(INITIAL)
    this.len = 0
    this.scheduled = false
    /** > 0 while events are dispatched or inside cork(): flush when it returns to 0. */
    this.holds = 0
    /** Incremented by every flush: bytes a socket packed in an older epoch reached Rust. */
    this.epoch = 0
    /** Publishes queued frames in Rust that the next flush must write. */
    this.published = false
    this.flush = this.flush.bind(this)
  }

  reserve(n) {
    const need = this.len + n
    if (need <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  header(at, id, opcode, flags, code, len) {
    const b = this.buf
    b[at] = id
    b[at + 1] = id >>> 8
    b[at + 2] = id >>> 16
    b[at + 3] = id >>> 24
    b[at + 4] = opcode
    b[at + 5] = flags
    b[at + 6] = code
    b[at + 7] = code >>> 8
    b[at + 8] = len
    b[at + 9] = len >>> 8
    b[at + 10] = len >>> 16
    b[at + 11] = len >>> 24
  }

  /** Queues a frame (`flags`: FLAG_MORE, FLAG_COMPRESS); returns the payload bytes packed
   * here, or -1 when the frame went to Rust at once (then what the kernel did not take
   * is in Rust's queue, and counted there). */
  frame(id, opcode, flags, message) {
    if (typeof message === 'string') {
      this.reserve(HEADER + message.length * 3)
      const at = this.len
      const len = this.buf.write(message, at + HEADER, 'utf8')
      this.header(at, id, opcode, flags, 0, len)
      this.len = at + HEADER + len
      this.schedule()
      return len
    }
    const bytes = bytesOf(message)
    if (bytes.length >= DIRECT) {
      this.flush()
      this.native.sendDirect(id, opcode, flags, bytes)
      return -1
    }
    this.command(id, opcode, flags, 0, bytes)
    return bytes.length
  }

  /** Queues a command record with an optional binary payload. */
  command(id, opcode, flags, code, payload) {
    const len = payload ? payload.length : 0
    this.reserve(HEADER + len)
    this.header(this.len, id, opcode, flags, code, len)
    if (len) this.buf.set(payload, this.len + HEADER)
    this.len += HEADER + len
    this.schedule()
  }

  /** Sends packed so far must reach Rust before a publish, to keep their order. */
  beforePublish() {
    if (this.len > 0) this.flush()
  }

  /** A publish queued frames in Rust: make sure a flush follows this turn. */
  afterPublish() {
    this.published = true
    this.schedule()
  }

  schedule() {
    if (this.len >= AUTO_FLUSH) return this.flush()
    if (this.scheduled || this.holds > 0) return
    this.scheduled = true
    queueMicrotask(this.flush)
  }

  flush() {
    this.scheduled = false
    if (this.len === 0 && !this.published) return
    this.epoch++
    this.published = false
    const len = this.len
    this.len = 0
    this.native.flush(this.buf.subarray(0, len))
  }

  hold() {
    this.holds++
  }

  release() {
    if (--this.holds === 0) this.flush()
  }
}

module.exports = { Outbox, op, bytesOf, FLAG_MORE, FLAG_COMPRESS }
