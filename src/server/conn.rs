//! State of one open WebSocket shared between its I/O task and the JS thread.
//!
//! Outbound frames are written by whichever side has them first: a flush from the JS
//! thread writes straight to the socket when nothing is queued (no thread hop), and only
//! what the kernel does not take is queued for the connection task, which waits for
//! writability. The lock is taken once per flush per connection, never per message.

use super::buffered::BufferedTable;
use super::events::{kind, Batch, EventQueue};
use super::signal::Signal;
use super::stream::Stream;
use super::write_queue::WriteQueue;
use crate::protocol::deflate::{compress_standalone, Deflater, Negotiated};
use crate::protocol::frame::{encode_compressed_frame, encode_frame, OpCode};
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Outcome of queueing a frame, as uWS.js reports it: written, buffered, or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    Sent,
    Buffered,
    Dropped,
    /// The connection is closing: nothing is sent and nothing counts as dropped.
    Closed,
}

/// What a connection keeps of its route's behaviour for deliveries from other threads,
/// packed into one word (every open connection holds one): the backpressure limit in the
/// low 62 bits, the two flags above it.
#[derive(Clone, Copy)]
pub struct DeliveryPolicy(u64);

impl DeliveryPolicy {
    const CLOSE_ON_LIMIT: u64 = 1 << 63;
    const DROPPED_HANDLER: u64 = 1 << 62;
    const LIMIT: u64 = Self::DROPPED_HANDLER - 1;

    /// `max_backpressure`: bytes queued past which deliveries are dropped (0 = none;
    /// saturates at 2^62 - 1).
    pub fn new(
        max_backpressure: usize,
        close_on_backpressure_limit: bool,
        has_dropped_handler: bool,
    ) -> Self {
        let limit = (max_backpressure as u64).min(Self::LIMIT);
        let close = if close_on_backpressure_limit {
            Self::CLOSE_ON_LIMIT
        } else {
            0
        };
        let dropped = if has_dropped_handler {
            Self::DROPPED_HANDLER
        } else {
            0
        };
        DeliveryPolicy(limit | close | dropped)
    }

    pub fn max_backpressure(self) -> usize {
        (self.0 & Self::LIMIT) as usize
    }

    pub fn close_on_backpressure_limit(self) -> bool {
        self.0 & Self::CLOSE_ON_LIMIT != 0
    }

    pub fn has_dropped_handler(self) -> bool {
        self.0 & Self::DROPPED_HANDLER != 0
    }
}

/// Commands from JS, checked by the task when notified.
pub mod command {
    pub const NONE: u8 = 0;
    /// `ws.end()`: the close frame is queued; wait for the peer's close, then disconnect.
    pub const END: u8 = 1;
    /// `ws.close()`: drop the connection now.
    pub const ABORT: u8 = 2;
    /// TEST ONLY: the task panics (see `NativeApp::panic_connection_for_test`).
    pub const PANIC_FOR_TEST: u8 = 3;
}

#[derive(Default)]
struct Outbound {
    queue: WriteQueue,
    /// Set once the close frame was queued or the socket is gone: later frames are dropped.
    closed: bool,
    /// A fragmented message is being sent (its last frame had FIN clear): publishes wait
    /// in `held` so they cannot land between its fragments.
    fragmenting: bool,
    /// What few connections need, created on first use: every open connection holds an
    /// `Outbound`, and one pointer here keeps `ConnShared` in a smaller allocation class.
    rare: Option<Box<Rare>>,
}

/// The outbound side's seldom-used parts, behind the same lock as the queue.
#[derive(Default)]
struct Rare {
    /// Publishes held while a fragmented message is sent (boxed: rarer still).
    #[allow(clippy::box_collection)]
    held: Option<Box<VecDeque<Bytes>>>,
    /// permessage-deflate was agreed: compresses sends asked to be compressed. Behind
    /// the same lock as the queue, so compression order is wire order.
    deflate: Option<Box<SendDeflate>>,
    /// Topics this connection is subscribed to.
    topics: HashSet<Arc<str>>,
}

impl Outbound {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    fn deflate(&mut self) -> Option<&mut SendDeflate> {
        self.rare.as_mut()?.deflate.as_deref_mut()
    }

    fn topics(&self) -> Option<&HashSet<Arc<str>>> {
        self.rare.as_ref().map(|r| &r.topics)
    }

    /// Frees the rare parts once nothing is in them.
    fn trim_rare(&mut self) {
        if let Some(r) = self.rare.as_mut() {
            if r.held.is_none() && r.deflate.is_none() && r.topics.is_empty() {
                self.rare = None;
            } else if r.topics.is_empty() {
                r.topics.shrink_to_fit();
            }
        }
    }
}

/// The compressing side of an agreed permessage-deflate.
pub struct SendDeflate {
    deflater: Deflater,
    /// The agreed `server_max_window_bits`: shared frames compressed with a larger
    /// window cannot be sent here.
    window_bits: u8,
}

impl SendDeflate {
    pub fn new(negotiated: &Negotiated) -> Self {
        SendDeflate {
            deflater: negotiated.deflater(),
            window_bits: negotiated.server_max_window_bits,
        }
    }
}

/// A publish's frame, encoded once for every subscriber: plain, and compressed (with
/// `SHARED_WINDOW_BITS`) when the publisher asked for compression, built by the first
/// subscriber that agreed permessage-deflate (none: no compression work at all).
pub struct SharedFrame<'a> {
    pub plain: &'a Bytes,
    /// Set when the publisher asked for compression.
    pub compressed: Option<&'a SharedCompressed<'a>>,
}

/// The compressed form of a publish, made at most once and only when first needed.
pub struct SharedCompressed<'a> {
    pub opcode: OpCode,
    pub payload: &'a [u8],
    /// None inside when compression would not make the message smaller.
    pub frame: std::cell::OnceCell<Option<Bytes>>,
}

impl SharedCompressed<'_> {
    fn get(&self) -> Option<&Bytes> {
        self.frame
            .get_or_init(|| shared_compressed(self.opcode, self.payload))
            .as_ref()
    }
}

/// The compressed frame of a publish, or None when compression does not make it smaller.
fn shared_compressed(opcode: OpCode, payload: &[u8]) -> Option<Bytes> {
    let mut compressed = Vec::new();
    compress_standalone(payload, SHARED_WINDOW_BITS, &mut compressed);
    if compressed.len() >= payload.len() {
        return None;
    }
    let mut frame = Vec::with_capacity(compressed.len() + 10);
    encode_compressed_frame(&mut frame, opcode, true, &compressed, None);
    Some(Bytes::from(frame))
}

/// Window of shared (publish) compressed frames: what every client can take unless it
/// asked for a smaller one (those get the plain frame).
pub const SHARED_WINDOW_BITS: u8 = 15;

thread_local! {
    /// Compressed payloads are built here, then framed into the caller's buffer.
    static DEFLATE_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What an App's connections share (one for its WebSockets, one for its HTTP
/// connections): one pointer in each connection instead of two.
pub struct ConnLink {
    /// The owning App's event queue, for events raised by publishers on other threads.
    events: Arc<EventQueue>,
    /// Where each connection's queued bytes are mirrored for JS.
    table: Arc<BufferedTable>,
}

impl ConnLink {
    pub fn new(events: Arc<EventQueue>, table: Arc<BufferedTable>) -> Arc<ConnLink> {
        Arc::new(ConnLink { events, table })
    }
}

pub struct ConnShared {
    pub stream: Stream,
    out: Mutex<Outbound>,
    /// Bytes queued in user space (not yet accepted by the kernel), mirrored into the
    /// table JS reads.
    buffered: AtomicUsize,
    link: Arc<ConnLink>,
    id: u32,
    command: AtomicU8,
    /// Read by every publish delivery: here rather than one pointer away.
    policy: DeliveryPolicy,
    pub notify: Signal,
    /// Set while the connection waits in a publisher's list of connections to write.
    dirty: AtomicBool,
    /// [`release`] bits: the slot is freed by whichever of the task and JS finishes last.
    release: AtomicU8,
    /// The route of a connection whose OPEN event is deferred, until it is queued. Taken
    /// only under the event queue's batch lock, so the OPEN precedes any other event of
    /// the connection whichever thread queues it.
    deferred_open: DeferredOpen,
}

/// An OPEN event held back: on a route without `open` and `upgrade` handlers JS has
/// nothing to do for a connection until its first event, so an idle one costs no JS
/// object (nor a JS wake to make one). See [`ConnShared::announce`]. The route index
/// plus one (0: none) in an atomic, which any thread may take once; the peer address is
/// in the App's [`super::addresses::AddressTable`] already.
struct DeferredOpen(AtomicU32);

impl DeferredOpen {
    fn new(route: Option<u16>) -> Self {
        DeferredOpen(AtomicU32::new(route.map_or(0, |r| u32::from(r) + 1)))
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire) != 0
    }

    fn take(&self) -> Option<u16> {
        match self.0.swap(0, Ordering::AcqRel) {
            0 => None,
            route => Some((route - 1) as u16),
        }
    }
}

/// Who is done with a connection's slot. JS may hear of a peer's close (and release the
/// slot) while the task still writes what JS sent before its `close` handler ran, so the
/// slot (and with it the id) is freed only once both are done.
pub mod release {
    /// The connection task ended (its socket is closed).
    pub const TASK_DONE: u8 = 1;
    /// JS handled the CLOSE event and released the id.
    pub const JS_RELEASED: u8 = 2;
}

/// The parts of `pieces` after the first `written` bytes, as I/O slices.
fn unwritten<'a>(pieces: &[&'a [u8]], mut written: usize) -> Vec<IoSlice<'a>> {
    let mut slices = Vec::with_capacity(pieces.len());
    for p in pieces {
        if written >= p.len() {
            written -= p.len();
            continue;
        }
        slices.push(IoSlice::new(&p[written..]));
        written = 0;
    }
    slices
}

impl ConnShared {
    pub fn new(
        stream: Stream,
        link: Arc<ConnLink>,
        id: u32,
        policy: DeliveryPolicy,
        deflate: Option<SendDeflate>,
        deferred_open: Option<u16>,
    ) -> Self {
        let out = Outbound {
            rare: deflate.map(|d| {
                Box::new(Rare {
                    deflate: Some(Box::new(d)),
                    ..Rare::default()
                })
            }),
            ..Outbound::default()
        };
        ConnShared {
            link,
            policy,
            dirty: AtomicBool::new(false),
            release: AtomicU8::new(0),
            stream,
            out: Mutex::new(out),
            buffered: AtomicUsize::new(0),
            id,
            command: AtomicU8::new(command::NONE),
            notify: Signal::default(),
            deferred_open: DeferredOpen::new(deferred_open),
        }
    }

    /// Queues the connection's deferred OPEN event, if it has one not yet queued. Called
    /// with the batch of every event about to be queued for this connection (and by
    /// [`super::app::AppCore::stop_deferring`]), so JS always hears OPEN first.
    pub fn announce(&self, batch: &mut Batch) {
        if !self.deferred_open.is_set() {
            return;
        }
        if let Some(route) = self.deferred_open.take() {
            // No accepted upgrade request (id 0): those are never deferred.
            batch.push(self.id, kind::OPEN, 0, route, &0u32.to_le_bytes());
        }
    }

    /// Queues one event of this connection for JS (after its deferred OPEN, if any).
    pub fn queue_event(&self, kind: u8, flags: u8, extra: u16, payload: &[u8]) {
        self.link.events.with_batch(|b| {
            self.announce(b);
            b.push(self.id, kind, flags, extra, payload)
        });
    }

    /// Whether the OPEN event is still deferred.
    pub fn open_deferred(&self) -> bool {
        self.deferred_open.is_set()
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// True if this connection belongs to the App that owns `events`.
    pub fn belongs_to(&self, events: &Arc<EventQueue>) -> bool {
        Arc::ptr_eq(&self.link.events, events)
    }

    pub fn buffered_amount(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Writes encoded frames, directly if nothing is queued, queueing the rest.
    /// `close_after` marks the stream closed for further frames (a close frame was sent).
    /// Returns false if the frames were dropped because the connection is closing.
    pub fn write(&self, frames: &[u8], close_after: bool) -> bool {
        self.write_fragmenting(frames, close_after, None)
    }

    /// As `write`; `fragmenting` (when known) says whether these frames leave a
    /// fragmented message unfinished. When one finishes, held publishes follow it.
    pub fn write_fragmenting(
        &self,
        frames: &[u8],
        close_after: bool,
        fragmenting: Option<bool>,
    ) -> bool {
        let out = super::lock(&self.out);
        if out.closed {
            return false;
        }
        self.write_locked(out, frames, close_after, fragmenting);
        true
    }

    /// As `write_fragmenting` for frames given in pieces (encoded headers and the
    /// payloads they announce, borrowed where they lie): written with one vectored call
    /// instead of being copied together first. Only what the socket does not take is
    /// copied, into the queue.
    pub fn write_pieces(&self, pieces: &[&[u8]], fragmenting: Option<bool>) -> bool {
        let out = super::lock(&self.out);
        if out.closed {
            return false;
        }
        self.write_locked_pieces(out, pieces, false, fragmenting);
        true
    }

    /// The write itself, under the outbound lock (released at the end).
    fn write_locked(
        &self,
        out: std::sync::MutexGuard<'_, Outbound>,
        frames: &[u8],
        close_after: bool,
        fragmenting: Option<bool>,
    ) {
        self.write_locked_pieces(out, &[frames], close_after, fragmenting);
    }

    fn write_locked_pieces(
        &self,
        mut out: std::sync::MutexGuard<'_, Outbound>,
        pieces: &[&[u8]],
        close_after: bool,
        fragmenting: Option<bool>,
    ) {
        out.closed = close_after;
        let release_held = match fragmenting {
            Some(now) => std::mem::replace(&mut out.fragmenting, now) && !now,
            None => false,
        };
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut written = 0;
        if out.queue.is_empty() {
            while written < total {
                let r = match pieces {
                    [one] => self.stream.try_write(&one[written..]),
                    _ => {
                        let slices = unwritten(pieces, written);
                        self.stream.try_write_vectored(&slices)
                    }
                };
                match r {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
        }
        if written < total {
            out.queue.push_copy(pieces, written);
            self.add_buffered(&out, (total - written) as isize);
        }
        if release_held {
            if let Some(held) = out.rare.as_mut().and_then(|r| r.held.take()) {
                out.queue.append_held(*held);
                out.trim_rare();
            }
        }
        // Also when TLS records wait in rustls: the task must flush them.
        if !out.queue.is_empty() || self.stream.has_pending_output() {
            drop(out);
            self.notify.notify_one();
        }
    }

    /// Sends one whole message compressed when permessage-deflate was agreed (plain
    /// otherwise, or when compression would not make it smaller). `frame` is scratch.
    pub fn write_compressed(&self, opcode: OpCode, payload: &[u8], frame: &mut Vec<u8>) -> bool {
        let mut out = super::lock(&self.out);
        if out.closed {
            return false;
        }
        frame.clear();
        match out.deflate() {
            Some(d) => DEFLATE_SCRATCH.with_borrow_mut(|compressed| {
                compressed.clear();
                d.deflater.compress(payload, compressed);
                if compressed.len() < payload.len() {
                    encode_compressed_frame(frame, opcode, true, compressed, None);
                } else {
                    // The peer will not see these bytes in its window: forget them.
                    d.deflater.reset();
                    encode_frame(frame, opcode, true, payload, None);
                }
                if compressed.capacity() > 1 << 20 {
                    *compressed = Vec::new();
                }
            }),
            None => encode_frame(frame, opcode, true, payload, None),
        }
        // Still under the lock: a shared frame cannot slip between this message's
        // compression and its place on the wire.
        self.write_locked(out, frame, false, Some(false));
        true
    }

    /// Queues a shared frame (a pub/sub delivery) without copying or writing it; the
    /// publisher writes its dirty connections once at the end of its JS turn. Over the
    /// backpressure limit the frame is dropped: the owning app hears of it (`dropped`)
    /// and the connection closes if its behaviour says so.
    pub fn queue_shared(
        &self,
        frame: &SharedFrame<'_>,
        payload: &[u8],
        binary: bool,
    ) -> SendStatus {
        let mut out = super::lock(&self.out);
        if out.closed {
            return SendStatus::Closed;
        }
        let queued = self.buffered_amount();
        let limit = self.policy.max_backpressure();
        if limit > 0 && queued > limit {
            drop(out);
            if self.policy.has_dropped_handler() {
                self.queue_event(kind::DROPPED, binary as u8, 0, payload);
            }
            if self.policy.close_on_backpressure_limit() {
                self.set_command(command::ABORT);
            }
            return SendStatus::Dropped;
        }
        let compressed = match (frame.compressed, out.deflate()) {
            (Some(c), Some(d)) if d.window_bits >= SHARED_WINDOW_BITS => c.get().map(|f| (f, d)),
            _ => None,
        };
        let frame = match compressed {
            Some((compressed, d)) => {
                // The peer's window now holds this message, which our deflater never saw.
                d.deflater.reset();
                compressed
            }
            _ => frame.plain,
        };
        self.push_shared_locked(&mut out, frame, queued)
    }

    /// Queues the frames of a run of publishes, encoded together in `frames`, if none of
    /// them would be dropped: `None` (nothing queued) when the run would take the
    /// connection past its backpressure limit, for the caller to queue message by message.
    pub fn queue_shared_run(&self, frames: &Bytes) -> Option<SendStatus> {
        let mut out = super::lock(&self.out);
        if out.closed {
            return Some(SendStatus::Closed);
        }
        let queued = self.buffered_amount();
        let limit = self.policy.max_backpressure();
        if limit > 0 && queued + frames.len() > limit {
            return None;
        }
        Some(self.push_shared_locked(&mut out, frames, queued))
    }

    /// Queues a shared frame (or frames) behind the `queued` bytes already waiting, or
    /// holds it while a fragmented message is being sent.
    fn push_shared_locked(&self, out: &mut Outbound, frame: &Bytes, queued: usize) -> SendStatus {
        self.add_buffered(out, frame.len() as isize);
        if out.fragmenting {
            out.rare()
                .held
                .get_or_insert_default()
                .push_back(frame.clone());
        } else {
            out.queue.push_shared(frame);
        }
        if queued > 0 {
            SendStatus::Buffered
        } else {
            SendStatus::Sent
        }
    }

    /// Queued bytes at which a publisher writes this connection at once instead of at
    /// the end of its turn, so only bytes the kernel refused count as backpressure.
    pub fn flush_threshold(&self) -> usize {
        match self.policy.max_backpressure() {
            0 => 32 * 1024,
            limit => (limit / 2).clamp(1, 32 * 1024),
        }
    }

    /// Marks the connection as needing a write; true if it was not marked yet.
    /// Looks before it swaps: a connection is marked by many publishes per turn, and only
    /// the first needs the locked exchange. A `true` seen here is never stale for the
    /// frame just queued: a flush clears the flag before it takes the outbound lock, so
    /// either it took the lock after this frame was queued (and writes it), or the
    /// queueing came after the clear and this load sees it.
    pub fn mark_dirty(&self) -> bool {
        !self.dirty.load(Ordering::Acquire) && !self.dirty.swap(true, Ordering::AcqRel)
    }

    /// Writes what is queued now, from the calling thread; the task takes over the rest.
    pub fn flush_now(&self) {
        self.dirty.store(false, Ordering::Release);
        match self.flush_queue() {
            // TLS records left in rustls are the task's to flush too.
            Ok(true) if !self.stream.has_pending_output() => {}
            _ => self.notify.notify_one(),
        }
    }

    /// Only under the outbound lock (`_locked` is its guard's contents): the only writers
    /// of `buffered` hold it, so a plain load and store do, where a read-modify-write would
    /// cost a locked instruction per publish delivery. Readers take it without the lock.
    fn add_buffered(&self, _locked: &Outbound, delta: isize) {
        let now = self
            .buffered
            .load(Ordering::Relaxed)
            .wrapping_add_signed(delta);
        self.buffered.store(now, Ordering::Relaxed);
        self.link.table.set(self.id, now);
    }

    /// Adds a topic to the connection's own list (the engine's list is the other half).
    pub fn add_topic(&self, topic: Arc<str>) {
        super::lock(&self.out).rare().topics.insert(topic);
    }

    pub fn remove_topic(&self, topic: &str) {
        let mut out = super::lock(&self.out);
        if let Some(r) = out.rare.as_mut() {
            r.topics.remove(topic);
            out.trim_rare();
        }
    }

    pub fn has_topic(&self, topic: &str) -> bool {
        super::lock(&self.out)
            .topics()
            .is_some_and(|t| t.contains(topic))
    }

    pub fn topics(&self) -> Vec<Arc<str>> {
        super::lock(&self.out)
            .topics()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Empties the connection's topic list (it is leaving them all).
    pub fn take_topics(&self) -> HashSet<Arc<str>> {
        let mut out = super::lock(&self.out);
        let topics = out
            .rare
            .as_mut()
            .map(|r| std::mem::take(&mut r.topics))
            .unwrap_or_default();
        out.trim_rare();
        topics
    }

    /// Marks the outbound side closed: later writes are dropped.
    pub fn close_outbound(&self) {
        super::lock(&self.out).closed = true;
    }

    pub fn has_queued(&self) -> bool {
        self.buffered.load(Ordering::Relaxed) > 0
    }

    /// The task has something to write: queued bytes, or TLS records rustls holds.
    pub fn wants_write(&self) -> bool {
        self.has_queued() || self.stream.has_pending_output()
    }

    /// Task side: writes as much of the queue as the socket takes, vectored.
    /// Returns Ok(true) when the queue is empty.
    pub fn flush_queue(&self) -> std::io::Result<bool> {
        let mut out = super::lock(&self.out);
        while !out.queue.is_empty() {
            let n = match out.queue.write_with(|s| self.stream.try_write_vectored(s)) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            self.add_buffered(&out, -(n as isize));
            out.queue.consume(n);
        }
        // The queue is empty; TLS records rustls still holds go out too.
        self.stream.flush_output()?;
        Ok(true)
    }

    pub fn set_command(&self, cmd: u8) {
        // ABORT wins over END (and the test-only panic over both).
        self.command.fetch_max(cmd, Ordering::AcqRel);
        self.notify.notify_one();
    }

    pub fn command(&self) -> u8 {
        self.command.load(Ordering::Acquire)
    }

    /// Marks `who` (a [`release`] bit) done with the slot; true when the other one was
    /// already done, so the caller frees the slot.
    pub fn done_with_slot(&self, who: u8) -> bool {
        let before = self.release.fetch_or(who, Ordering::AcqRel);
        let other = (release::TASK_DONE | release::JS_RELEASED) & !who;
        before & who == 0 && before & other != 0
    }

    /// True once JS released the id (it handled the CLOSE event).
    pub fn js_released(&self) -> bool {
        self.release.load(Ordering::Acquire) & release::JS_RELEASED != 0
    }
}

#[cfg(test)]
mod tests {
    /// Every open connection holds one in an `Arc` (16 more bytes).
    #[test]
    fn conn_shared_is_small() {
        let size = std::mem::size_of::<super::ConnShared>();
        // In its Arc: the allocator's 128-byte class on Linux (a reactor socket in the
        // stream), 192 elsewhere (a larger stream).
        let limit = if cfg!(target_os = "linux") { 112 } else { 176 };
        assert!(size <= limit, "ConnShared is {size} bytes");
    }

    /// The rare parts go once empty, and stay while any part is in use.
    #[test]
    fn rare_parts_are_freed_only_when_all_are_empty() {
        use super::{Outbound, SendDeflate};
        use crate::protocol::deflate::Negotiated;
        let mut out = Outbound::default();
        out.rare().topics.insert("a".into());
        out.rare().topics.remove("a");
        out.trim_rare();
        assert!(out.rare.is_none(), "no topics, nothing else: freed");

        let negotiated = Negotiated {
            response_header: String::new(),
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        out.rare().deflate = Some(Box::new(SendDeflate::new(&negotiated)));
        out.rare().topics.insert("a".into());
        out.rare().topics.remove("a");
        out.trim_rare();
        assert!(out.deflate().is_some(), "the deflater outlives the topics");
        assert!(out.topics().is_some_and(|t| t.capacity() == 0));

        let mut out = Outbound::default();
        out.rare().held.get_or_insert_default();
        out.trim_rare();
        assert!(out.rare.is_some(), "held publishes keep it");
        out.rare().held = None;
        out.trim_rare();
        assert!(out.rare.is_none());
    }

    #[test]
    fn delivery_policy_keeps_limit_and_flags_apart() {
        use super::DeliveryPolicy;
        let p = DeliveryPolicy::new(64 * 1024, true, false);
        assert_eq!(p.max_backpressure(), 64 * 1024);
        assert!(p.close_on_backpressure_limit() && !p.has_dropped_handler());
        let p = DeliveryPolicy::new(usize::MAX, false, true);
        assert_eq!(
            p.max_backpressure(),
            (1 << 62) - 1,
            "saturates below the flags"
        );
        assert!(!p.close_on_backpressure_limit() && p.has_dropped_handler());
        assert_eq!(DeliveryPolicy::new(0, false, false).max_backpressure(), 0);
    }

    #[test]
    fn a_deferred_open_is_taken_once() {
        use super::DeferredOpen;
        let slot = DeferredOpen::new(Some(3));
        assert!(slot.is_set());
        assert_eq!(slot.take(), Some(3));
        assert!(!slot.is_set() && slot.take().is_none());
        let route_zero = DeferredOpen::new(Some(0));
        assert_eq!(route_zero.take(), Some(0), "route 0 is not 'none'");
        assert!(!DeferredOpen::new(None).is_set());
    }
}
