//! The queue of events travelling from the I/O threads to the JS thread.
//!
//! Events are appended as packed records to one buffer per batch; the JS thread is woken
//! at most once per batch (a wake is pending until JS takes the batch) and takes the whole
//! buffer in one call. When JS falls behind and the batch grows past a high-water mark,
//! readers stop reading their sockets until JS has taken the batch (inbound backpressure)
//! instead of growing memory.
//!
//! Record layout (little endian), 12-byte header then payload:
//! `u32 id | u8 kind | u8 flags | u16 extra | u32 len | payload[len]`

use crate::protocol::receiver::Payload;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

pub const HEADER_LEN: usize = 12;

/// Kinds of event records; mirrored in `lib/events.js`.
pub mod kind {
    /// A WebSocket opened. `extra` = route index, payload = 16-byte IPv6 (v4-mapped)
    /// address + u16 port + u32 id of the upgrade request JS accepted (0: none).
    pub const OPEN: u8 = 1;
    /// A message whose payload is inline. `flags` bit 0 = binary.
    pub const MESSAGE: u8 = 2;
    /// A large message whose payload is the next entry of the batch's side list (zero copy).
    pub const MESSAGE_LARGE: u8 = 3;
    /// The connection ended. `extra` = close code, payload = reason. Exactly one per OPEN.
    pub const CLOSE: u8 = 4;
    pub const PING: u8 = 5;
    pub const PONG: u8 = 6;
    /// The queued outbound bytes fell below the backpressure limit.
    pub const DRAIN: u8 = 7;
    /// A publish was dropped for this socket by backpressure. `flags` bit 0 = binary.
    pub const DROPPED: u8 = 8;
    /// An upgrade request for a JS `upgrade` handler. `id` = pending request id,
    /// `extra` = route index, payload = the request (see `upgrade.rs`).
    pub const UPGRADE: u8 = 9;
    /// The client of a pending upgrade request went away (`res.onAborted`).
    pub const ABORTED: u8 = 10;

    // HTTP routes (src/server/http), numbered apart from the WebSocket kinds. `id` is the
    // connection's HTTP slot; records are in queue order, so JS can route them by slot.
    /// A request for JS route handlers. `flags`: see `server::http::request::flag`;
    /// payload: see `server::http::request::encode`.
    pub const HTTP_REQUEST: u8 = 32;
    /// Request body bytes for `res.onData`; `flags` bit 0 = last chunk.
    pub const HTTP_DATA: u8 = 33;
    /// The client went away before the response ended (`res.onAborted`); payload = u32
    /// request serial.
    pub const HTTP_ABORTED: u8 = 34;
    /// The response's queued bytes were written after `write`/`tryEnd` reported
    /// backpressure (`res.onWritable`); payload = u32 request serial.
    pub const HTTP_WRITABLE: u8 = 35;
}

/// Messages at least this large cross as their own zero-copy buffer instead of being
/// copied into the batch (and out of it again by `ArrayBuffer.prototype.slice`).
pub const LARGE_MESSAGE: usize = 128 * 1024;

/// A batch above this size (records plus large payloads) makes readers pause until JS
/// takes it.
const HIGH_WATER: usize = 8 * 1024 * 1024;

/// Wakes the JS thread; implemented by the binding layer with a threadsafe function.
pub trait Waker: Send + Sync {
    fn wake(&self);
}

#[derive(Default)]
pub struct Batch {
    /// Records appended by the I/O threads.
    pub records: Vec<u8>,
    pub large: Vec<Vec<u8>>,
    /// Bytes in `large`: they count towards the high-water mark like inline records.
    large_bytes: usize,
    /// Records JS takes in pieces (`take_into`), from `read_at` on: the two buffers swap
    /// when this one is used up, so neither is ever shifted or reallocated in steady
    /// traffic. Its records precede those in `records`.
    draining: Vec<u8>,
    read_at: usize,
    /// The largest a batch grew during the last `swaps` swaps: the free buffer is
    /// shrunk to it every [`SHRINK_WINDOW`] swaps.
    peak: usize,
    swaps: u32,
}

/// How many times the buffers swap before the free one may shrink.
const SHRINK_WINDOW: u32 = 1024;

impl Batch {
    /// What this batch holds (not yet taken), for the high-water mark.
    pub fn bytes(&self) -> usize {
        self.records.len() + self.draining.len() - self.read_at + self.large_bytes
    }

    /// Moves the records not yet taken from `draining` in front of `records`.
    fn undrain(&mut self) {
        if self.read_at < self.draining.len() {
            let mut all = self.draining.split_off(self.read_at);
            all.extend_from_slice(&self.records);
            self.records = all;
        }
        self.draining = Vec::new();
        self.read_at = 0;
    }

    /// `records` becomes the buffer JS drains; the I/O threads go on in the emptied one,
    /// which keeps its capacity (growing it again costs copies and page faults) unless
    /// batches stayed far smaller for a while.
    fn swap(&mut self) {
        self.draining.clear();
        std::mem::swap(&mut self.records, &mut self.draining);
        self.read_at = 0;
        self.peak = self.peak.max(self.draining.len());
        self.swaps += 1;
        if self.swaps == SHRINK_WINDOW {
            if self.records.capacity() > 1 << 20 && self.peak * 4 < self.records.capacity() {
                self.records = Vec::with_capacity(self.peak.max(4096));
            }
            self.swaps = 0;
            self.peak = 0;
        }
    }

    fn header(&mut self, id: u32, kind: u8, flags: u8, extra: u16, len: usize) {
        let r = &mut self.records;
        r.extend_from_slice(&id.to_le_bytes());
        r.push(kind);
        r.push(flags);
        r.extend_from_slice(&extra.to_le_bytes());
        r.extend_from_slice(&(len as u32).to_le_bytes());
    }

    pub fn push(&mut self, id: u32, kind: u8, flags: u8, extra: u16, payload: &[u8]) {
        self.records.reserve(HEADER_LEN + payload.len());
        self.header(id, kind, flags, extra, payload.len());
        self.records.extend_from_slice(payload);
    }

    /// A message; a large owned payload (an assembled message) moves into the side list
    /// without a copy.
    pub fn push_message(&mut self, id: u32, binary: bool, payload: Payload<'_>) {
        let flags = binary as u8;
        if payload.as_slice().len() >= LARGE_MESSAGE {
            self.header(id, kind::MESSAGE_LARGE, flags, 0, 0);
            self.large_bytes += payload.as_slice().len();
            self.large.push(payload.into_vec());
        } else {
            self.push(id, kind::MESSAGE, flags, 0, payload.as_slice());
        }
    }
}

pub struct EventQueue {
    batch: Mutex<Batch>,
    wake_pending: AtomicBool,
    waker: Box<dyn Waker>,
    taken: Notify,
    /// Capacity to give the next batch buffer: the size of the last one, bounded.
    next_capacity: std::sync::atomic::AtomicUsize,
}

impl EventQueue {
    pub fn new(waker: Box<dyn Waker>) -> Self {
        EventQueue {
            batch: Mutex::new(Batch::default()),
            wake_pending: AtomicBool::new(false),
            waker,
            taken: Notify::new(),
            next_capacity: std::sync::atomic::AtomicUsize::new(4096),
        }
    }

    /// Appends records under one lock and wakes JS if records were added and no wake is
    /// pending.
    /// Returns true when the batch is over the high-water mark (the caller should pause
    /// reading with [`EventQueue::wait_taken`]).
    pub fn with_batch<R>(&self, f: impl FnOnce(&mut Batch) -> R) -> (R, bool) {
        let (result, grew, full) = {
            let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            let before = batch.records.len();
            let result = f(&mut batch);
            let len = batch.records.len();
            (result, len > before, batch.bytes() > HIGH_WATER)
        };
        if grew && !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
        (result, full)
    }

    /// Takes everything queued (JS thread). Clears the pending wake first so that events
    /// appended after this call trigger a new wake.
    pub fn take(&self) -> Batch {
        self.wake_pending.store(false, Ordering::Release);
        let cap = self.next_capacity.load(Ordering::Relaxed);
        let fresh = Batch {
            records: Vec::with_capacity(cap),
            ..Batch::default()
        };
        let mut batch = std::mem::replace(
            &mut *self.batch.lock().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        batch.undrain();
        self.next_capacity.store(
            batch.records.len().clamp(4096, 256 * 1024),
            Ordering::Relaxed,
        );
        self.taken.notify_waiters();
        batch
    }

    /// Takes queued records by copying them into `dst` (JS's reusable inbox): as many
    /// whole records as fit, the rest stays queued for the next call. The batch buffer
    /// keeps its capacity, so steady traffic allocates nothing on either side and the
    /// pages stay mapped (handing large batches over as buffers of their own cost page
    /// faults and a free on the JS thread for every batch). Returns the bytes copied
    /// (0: nothing queued), whether records remain, and the large payloads of the records
    /// copied; None (nothing taken) when the next record alone does not fit: then
    /// [`EventQueue::take`].
    pub fn take_into(&self, dst: &mut [u8]) -> Option<(usize, bool, Vec<Vec<u8>>)> {
        self.wake_pending.store(false, Ordering::Release);
        let mut guard = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        let batch = &mut *guard;
        if batch.read_at == batch.draining.len() {
            if batch.records.is_empty() {
                return Some((0, false, Vec::new()));
            }
            batch.swap();
        }
        let records = &batch.draining[batch.read_at..];
        // Whole records that fit, and how many of them carry a large payload.
        let mut end = 0;
        let mut large = 0;
        while let Some(h) = records.get(end..end + HEADER_LEN) {
            let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
            let next = end + HEADER_LEN + len;
            if next > dst.len() {
                break;
            }
            large += (h[4] == kind::MESSAGE_LARGE) as usize;
            end = next;
        }
        if end == 0 {
            // Set again: the caller takes the batch at once with `take`.
            self.wake_pending.store(true, Ordering::Release);
            return None;
        }
        dst[..end].copy_from_slice(&records[..end]);
        batch.read_at += end;
        if batch.read_at == batch.draining.len() {
            batch.draining.clear();
            batch.read_at = 0;
        }
        let more = batch.read_at < batch.draining.len() || !batch.records.is_empty();
        let large: Vec<Vec<u8>> = if large == batch.large.len() {
            std::mem::take(&mut batch.large)
        } else {
            batch.large.drain(..large).collect()
        };
        batch.large_bytes -= large.iter().map(Vec::len).sum::<usize>();
        drop(guard);
        self.taken.notify_waiters();
        Some((end, more, large))
    }

    /// Waits until JS takes the current batch (or returns at once if it is small again).
    pub async fn wait_taken(&self) {
        loop {
            let notified = self.taken.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let len = self.batch.lock().unwrap_or_else(|e| e.into_inner()).bytes();
            if len <= HIGH_WATER {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoWake;
    impl Waker for NoWake {
        fn wake(&self) {}
    }

    /// Large messages travel beside the records (zero copy) but count towards the
    /// high-water mark all the same: a flood of them while JS is blocked pauses reading.
    #[test]
    fn large_messages_count_towards_the_high_water_mark() {
        let queue = EventQueue::new(Box::new(NoWake));
        let message = vec![0u8; LARGE_MESSAGE];
        let mut full = false;
        let mut pushed = 0;
        while !full {
            let payload = Payload::Owned(message.clone());
            full = queue.with_batch(|b| b.push_message(1, true, payload)).1;
            pushed += LARGE_MESSAGE;
            assert!(pushed <= HIGH_WATER + LARGE_MESSAGE, "never reported full");
        }
        let batch = queue.take();
        assert_eq!(batch.large.len() * LARGE_MESSAGE, pushed);
        assert!(!queue.with_batch(|_| ()).1, "a taken batch starts empty");
    }

    /// `take_into` copies small batches into the caller's buffer, keeps the batch buffer,
    /// and starts the count for the high-water mark again; a batch that does not fit is
    /// left whole for `take`.
    #[test]
    fn take_into_copies_small_batches_and_leaves_big_ones() {
        let queue = EventQueue::new(Box::new(NoWake));
        queue.with_batch(|b| b.push(7, kind::MESSAGE, 0, 0, b"hello"));
        let payload = Payload::Owned(vec![1u8; LARGE_MESSAGE]);
        queue.with_batch(|b| b.push_message(7, true, payload));
        let mut inbox = [0u8; 64];
        let (len, more, large) = queue.take_into(&mut inbox).expect("fits");
        assert_eq!(len, 2 * HEADER_LEN + 5);
        assert!(!more);
        assert_eq!(&inbox[HEADER_LEN..HEADER_LEN + 5], b"hello");
        assert_eq!(inbox[4], kind::MESSAGE);
        assert_eq!(inbox[HEADER_LEN + 5 + 4], kind::MESSAGE_LARGE);
        assert_eq!(large.len(), 1);
        assert_eq!(queue.batch.lock().unwrap().bytes(), 0);

        queue.with_batch(|b| b.push(8, kind::MESSAGE, 0, 0, &[0u8; 100]));
        assert!(
            queue.take_into(&mut inbox).is_none(),
            "too big for the inbox"
        );
        let batch = queue.take();
        assert_eq!(batch.records.len(), HEADER_LEN + 100);
    }

    /// A batch larger than the inbox is taken in pieces of whole records, each with the
    /// large payloads of its own records, and events queued in between follow in order.
    #[test]
    fn take_into_takes_a_big_batch_in_pieces_of_whole_records() {
        let queue = EventQueue::new(Box::new(NoWake));
        for i in 0..10u32 {
            queue.with_batch(|b| b.push(i, kind::MESSAGE, 0, 0, &[i as u8; 40]));
            if i % 3 == 0 {
                let payload = Payload::Owned(vec![i as u8; LARGE_MESSAGE]);
                queue.with_batch(|b| b.push_message(i, true, payload));
            }
        }
        let mut inbox = [0u8; 2 * (HEADER_LEN + 40) + HEADER_LEN];
        let mut seen = Vec::new();
        let mut appended = false;
        loop {
            let (len, more, large) = queue.take_into(&mut inbox).expect("every record fits");
            let mut larges = large.into_iter();
            let mut at = 0;
            while at < len {
                let id = u32::from_le_bytes(inbox[at..at + 4].try_into().unwrap());
                let n = u32::from_le_bytes(inbox[at + 8..at + 12].try_into().unwrap()) as usize;
                if inbox[at + 4] == kind::MESSAGE_LARGE {
                    let payload = larges.next().expect("a large payload per record");
                    assert_eq!(payload[0], id as u8);
                    seen.push((id, true));
                } else {
                    assert_eq!(inbox[at + HEADER_LEN], id as u8);
                    seen.push((id, false));
                }
                at += HEADER_LEN + n;
            }
            assert!(
                larges.next().is_none(),
                "only the payloads of the records taken"
            );
            if !appended {
                queue.with_batch(|b| b.push(99, kind::MESSAGE, 0, 0, &[99; 40]));
                appended = true;
            }
            if !more {
                break;
            }
        }
        let mut expected: Vec<(u32, bool)> = Vec::new();
        for i in 0..10 {
            expected.push((i, false));
            if i % 3 == 0 {
                expected.push((i, true));
            }
        }
        expected.push((99, false));
        assert_eq!(seen, expected);
        assert_eq!(queue.batch.lock().unwrap().bytes(), 0);
        assert_eq!(
            queue.take_into(&mut inbox).map(|(n, more, _)| (n, more)),
            Some((0, false))
        );
    }

    /// A record too big for the inbox after part of the batch was taken: `take` returns
    /// the rest of the drained buffer, then what was queued after it, in order.
    #[test]
    fn take_after_a_partial_take_into_keeps_the_order() {
        let queue = EventQueue::new(Box::new(NoWake));
        queue.with_batch(|b| b.push(1, kind::MESSAGE, 0, 0, &[1; 10]));
        queue.with_batch(|b| b.push(2, kind::MESSAGE, 0, 0, &[2; 100]));
        let mut inbox = [0u8; HEADER_LEN + 10];
        let (len, more, _) = queue.take_into(&mut inbox).expect("the first fits");
        assert_eq!((len, more), (HEADER_LEN + 10, true));
        assert!(queue.take_into(&mut inbox).is_none(), "the second does not");
        queue.with_batch(|b| b.push(3, kind::MESSAGE, 0, 0, &[3; 5]));
        let batch = queue.take();
        assert_eq!(batch.records.len(), 2 * HEADER_LEN + 105);
        assert_eq!(batch.records[0], 2);
        assert_eq!(batch.records[HEADER_LEN + 100], 3);
        assert_eq!(queue.batch.lock().unwrap().bytes(), 0);
        assert_eq!(
            queue.take_into(&mut inbox).map(|(n, more, _)| (n, more)),
            Some((0, false))
        );
    }
}
