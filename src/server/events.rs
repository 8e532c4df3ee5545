//! The queue of events travelling from the I/O threads to the JS thread.
//!
//! Events are appended as packed records; the JS thread is woken at most once per batch (a
//! wake is pending until JS takes it) and takes the batch in pieces of whole records: a
//! slab it reads in place (see `slabs.rs`) while batches fit in one, otherwise records
//! copied into its reusable inbox from a buffer it drains while the I/O threads fill
//! another. When JS falls behind and the batch grows past a high-water mark, readers stop
//! reading their sockets until JS has taken the batch (inbound backpressure) instead of
//! growing memory.
//!
//! Record layout (little endian), 12-byte header then payload:
//! `u32 id | u8 kind | u8 flags | u16 extra | u32 len | payload[len]`

use super::slabs::{Slabs, SLAB_LEN};
use crate::protocol::receiver::Payload;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

pub use super::record::HEADER_LEN;

/// Kinds of event records; mirrored in `lib/events.js`.
pub mod kind {
    /// A WebSocket opened. `extra` = route index, payload = u32 id of the upgrade request
    /// JS accepted (0: none). Its peer address is in the App's address table.
    pub const OPEN: u8 = 1;
    /// A message whose payload is inline. `flags` bit 0 = binary.
    pub const MESSAGE: u8 = 2;
    /// A large message whose payload is the next entry of the batch's side list.
    /// `flags` bit 0 = binary, payload = its length (u32), so that JS can pick a buffer
    /// of that length to copy it into.
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

/// Messages at least this large cross beside the records, each in a buffer of its own
/// copied once more into the handler's `ArrayBuffer` (`takeLarge`), instead of into the
/// batch: a few of them fill a slab, and the records behind it are then copied once more,
/// into JS's inbox. Measured (echo, 10 connections, server CPU per message against a
/// threshold of 128 KiB): 8 KiB 13% less, 16 KiB 12-15%, 64 KiB 42%, and 4 KiB 8% in
/// noisier runs (benchmark/RESULTS.md, "Large messages").
pub const LARGE_MESSAGE: usize = 8 * 1024;

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
    /// Once JS has views of them: the slab being filled (`fill`) holds the records queued
    /// after `draining`'s and before `records`' (records go there while `records` is
    /// empty and they fit); JS gets it whole, without a copy.
    slabs: Option<Arc<Slabs>>,
    fill: usize,
    fill_len: usize,
    /// MESSAGE_LARGE records in the slab being filled.
    fill_large: usize,
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
        self.appended() + self.draining.len() - self.read_at + self.large_bytes
    }

    /// Record bytes the I/O threads appended since JS last took them.
    fn appended(&self) -> usize {
        self.records.len() + self.fill_len
    }

    /// Appends one record: into the slab being filled when nothing waits in `records`
    /// (order) and it fits, into `records` otherwise.
    fn append(&mut self, header: &[u8; HEADER_LEN], payload: &[u8]) {
        let n = HEADER_LEN + payload.len();
        if let Some(slabs) = &self.slabs {
            if self.records.is_empty() && self.fill_len + n <= SLAB_LEN {
                // SAFETY: the slab being filled is never lent to JS, and the caller holds
                // the queue's lock (a `&mut Batch` is only had under it).
                unsafe {
                    slabs.write(self.fill, self.fill_len, header);
                    slabs.write(self.fill, self.fill_len + HEADER_LEN, payload);
                }
                self.fill_len += n;
                self.fill_large += (header[4] == kind::MESSAGE_LARGE) as usize;
                return;
            }
        }
        self.records.reserve(n);
        self.records.extend_from_slice(header);
        self.records.extend_from_slice(payload);
    }

    /// Takes every record not yet taken, in order, as one Vec (the buffers keep their
    /// capacity).
    fn take_all(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.bytes() - self.large_bytes);
        all.extend_from_slice(&self.draining[self.read_at..]);
        if let (Some(slabs), true) = (&self.slabs, self.fill_len > 0) {
            // SAFETY: the slab being filled, under the queue's lock.
            all.extend_from_slice(unsafe { slabs.slice(self.fill, self.fill_len) });
        }
        all.extend_from_slice(&self.records);
        self.draining.clear();
        self.read_at = 0;
        self.fill_len = 0;
        self.fill_large = 0;
        self.records.clear();
        all
    }

    /// The first `n` large payloads.
    fn take_large(&mut self, n: usize) -> Vec<Vec<u8>> {
        let large: Vec<Vec<u8>> = if n == self.large.len() {
            std::mem::take(&mut self.large)
        } else {
            self.large.drain(..n).collect()
        };
        self.large_bytes -= large.iter().map(Vec::len).sum::<usize>();
        large
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

    pub fn push(&mut self, id: u32, kind: u8, flags: u8, extra: u16, payload: &[u8]) {
        let header = super::record::header(id, kind, flags, extra, payload.len());
        self.append(&header, payload);
    }

    /// A message; a large owned payload (an assembled message) moves into the side list
    /// without a copy.
    pub fn push_message(&mut self, id: u32, binary: bool, payload: Payload<'_>) {
        let flags = binary as u8;
        if payload.as_slice().len() >= LARGE_MESSAGE {
            let len = payload.as_slice().len();
            self.push(
                id,
                kind::MESSAGE_LARGE,
                flags,
                0,
                &(len as u32).to_le_bytes(),
            );
            self.large_bytes += len;
            self.large.push(payload.into_vec());
        } else {
            self.push(id, kind::MESSAGE, flags, 0, payload.as_slice());
        }
    }
}

/// What [`EventQueue::take_into`] took.
#[derive(Default, Debug)]
pub struct Taken {
    /// Record bytes (0: nothing was queued).
    pub len: usize,
    /// The records are in this slab (read them in place) instead of the caller's buffer.
    pub slab: Option<usize>,
    /// Records remain queued: call again.
    pub more: bool,
    /// The payloads of the MESSAGE_LARGE records taken, in order.
    pub large: Vec<Vec<u8>>,
}

pub struct EventQueue {
    batch: Mutex<Batch>,
    wake_pending: AtomicBool,
    waker: Box<dyn Waker>,
    taken: Notify,
}

impl EventQueue {
    pub fn new(waker: Box<dyn Waker>) -> Self {
        EventQueue {
            batch: Mutex::new(Batch::default()),
            wake_pending: AtomicBool::new(false),
            waker,
            taken: Notify::new(),
        }
    }

    /// Appends records under one lock and wakes JS if records were added and no wake is
    /// pending.
    /// Returns true when the batch is over the high-water mark (the caller should pause
    /// reading with [`EventQueue::wait_taken`]).
    pub fn with_batch<R>(&self, f: impl FnOnce(&mut Batch) -> R) -> (R, bool) {
        let (result, grew, full) = {
            let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            let before = batch.appended();
            let result = f(&mut batch);
            let len = batch.appended();
            (result, len > before, batch.bytes() > HIGH_WATER)
        };
        if grew && !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
        (result, full)
    }

    /// Wakes JS even if nothing was queued (and a wake may be pending already).
    pub fn wake_js(&self) {
        self.waker.wake();
    }

    /// Takes everything queued (JS thread). Clears the pending wake first so that events
    /// appended after this call trigger a new wake.
    pub fn take(&self) -> Batch {
        self.wake_pending.store(false, Ordering::Release);
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        let records = batch.take_all();
        let large = std::mem::take(&mut batch.large);
        batch.large_bytes = 0;
        drop(batch);
        self.taken.notify_waiters();
        Batch {
            records,
            large,
            ..Batch::default()
        }
    }

    /// Gives JS the two slabs to read batches from in place (see [`Slabs`]); from now on
    /// `take_into` may answer with one of them instead of copying.
    pub fn lend_slabs(&self) -> Arc<Slabs> {
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        batch
            .slabs
            .get_or_insert_with(|| Arc::new(Slabs::new()))
            .clone()
    }

    /// Takes queued records by copying them into `dst` (JS's reusable inbox): as many
    /// whole records as fit, the rest stays queued for the next call. The batch buffer
    /// keeps its capacity, so steady traffic allocates nothing on either side and the
    /// pages stay mapped (handing large batches over as buffers of their own cost page
    /// faults and a free on the JS thread for every batch). Returns the bytes copied
    /// (0: nothing queued), whether records remain, and the large payloads of the records
    /// copied; None (nothing taken) when the next record alone does not fit: then
    /// [`EventQueue::take`].
    pub fn take_into(&self, dst: &mut [u8]) -> Option<Taken> {
        self.wake_pending.store(false, Ordering::Release);
        let mut guard = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        let batch = &mut *guard;
        if batch.read_at == batch.draining.len() {
            if batch.fill_len > 0 {
                // JS gets the slab being filled, as it is. JS is done with the other one
                // (it asks for the next batch only after dispatching the last), so the
                // I/O threads go on there.
                let slab = batch.fill;
                let len = batch.fill_len;
                batch.fill = 1 - slab;
                batch.fill_len = 0;
                let large = std::mem::take(&mut batch.fill_large);
                let large = batch.take_large(large);
                let more = !batch.records.is_empty();
                drop(guard);
                self.taken.notify_waiters();
                return Some(Taken {
                    len,
                    slab: Some(slab),
                    more,
                    large,
                });
            }
            if batch.records.is_empty() {
                return Some(Taken::default());
            }
            batch.swap();
        }
        let records = &batch.draining[batch.read_at..];
        // Whole records that fit, and how many of them carry a large payload.
        let mut end = 0;
        let mut large = 0;
        while let Some(h) = records.get(end..end + HEADER_LEN) {
            let len = super::record::payload_len(h);
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
        let more = batch.read_at < batch.draining.len() || batch.appended() > 0;
        let large = batch.take_large(large);
        drop(guard);
        self.taken.notify_waiters();
        Some(Taken {
            len: end,
            slab: None,
            more,
            large,
        })
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

    /// Large messages travel beside the records but count towards the
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
        let Taken {
            len, more, large, ..
        } = queue.take_into(&mut inbox).expect("fits");
        assert_eq!(len, 2 * HEADER_LEN + 5 + 4);
        assert!(!more);
        assert_eq!(&inbox[HEADER_LEN..HEADER_LEN + 5], b"hello");
        assert_eq!(inbox[4], kind::MESSAGE);
        let large_record = HEADER_LEN + 5;
        assert_eq!(inbox[large_record + 4], kind::MESSAGE_LARGE);
        let at = large_record + HEADER_LEN;
        assert_eq!(
            u32::from_le_bytes(inbox[at..at + 4].try_into().unwrap()) as usize,
            LARGE_MESSAGE,
            "the record carries the payload's length"
        );
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
            let Taken {
                len, more, large, ..
            } = queue.take_into(&mut inbox).expect("every record fits");
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
        assert_drained(&queue, &mut inbox);
    }

    /// Nothing is left: the batch is empty and `take_into` finds no record.
    fn assert_drained(queue: &EventQueue, inbox: &mut [u8]) {
        assert_eq!(queue.batch.lock().unwrap().bytes(), 0);
        assert_eq!(
            queue.take_into(inbox).map(|t| (t.len, t.more)),
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
        let t = queue.take_into(&mut inbox).expect("the first fits");
        assert_eq!((t.len, t.more), (HEADER_LEN + 10, true));
        assert!(queue.take_into(&mut inbox).is_none(), "the second does not");
        queue.with_batch(|b| b.push(3, kind::MESSAGE, 0, 0, &[3; 5]));
        let batch = queue.take();
        assert_eq!(batch.records.len(), 2 * HEADER_LEN + 105);
        assert_eq!(batch.records[0], 2);
        assert_eq!(batch.records[HEADER_LEN + 100], 3);
        assert_drained(&queue, &mut inbox);
    }

    /// With slabs lent: random pushes (small, inline up to nearly a slab, large
    /// side-list payloads) interleaved with `take_into` and `take` deliver every record
    /// once, in order, each large payload with its own record, and a slab handed to JS is
    /// not written until JS asks for the next batch.
    #[test]
    fn slabs_keep_order_and_are_not_written_while_lent() {
        let queue = EventQueue::new(Box::new(NoWake));
        let slabs = queue.lend_slabs();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut inbox = vec![0u8; 64 * 1024];
        let (mut pushed, mut seen) = (0u32, Vec::new());
        let mut lent: Option<(usize, Vec<u8>)> = None;
        let mut slab_takes = 0;
        let check = |bytes: &[u8], large: Vec<Vec<u8>>, seen: &mut Vec<u32>| {
            let mut larges = large.into_iter();
            let mut at = 0;
            while at < bytes.len() {
                let id = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
                let n = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
                if bytes[at + 4] == kind::MESSAGE_LARGE {
                    let p = larges.next().expect("a large payload per record");
                    assert_eq!(&p[..4], &id.to_le_bytes());
                } else if n >= 4 {
                    assert_eq!(
                        &bytes[at + HEADER_LEN..at + HEADER_LEN + 4],
                        &id.to_le_bytes()
                    );
                }
                seen.push(id);
                at += HEADER_LEN + n;
            }
            assert!(larges.next().is_none());
        };
        for _ in 0..4000 {
            for _ in 0..next(6) {
                let id = pushed;
                pushed += 1;
                let len = match next(10) {
                    0 => 0,
                    1 => 100 * 1024 + next(50_000) as usize,
                    2 => LARGE_MESSAGE + 8,
                    _ => 4 + next(3000) as usize,
                };
                let mut payload = vec![0u8; len];
                if len >= 4 {
                    payload[..4].copy_from_slice(&id.to_le_bytes());
                }
                queue.with_batch(|b| b.push_message(id, true, Payload::Owned(payload)));
            }
            if let Some((slab, copy)) = lent.take() {
                // SAFETY: test only; reads what JS would read.
                let now = unsafe { slabs.slice(slab, copy.len()) };
                assert!(now == &copy[..], "a lent slab was written");
            }
            match next(20) {
                0 => {
                    let b = queue.take();
                    check(&b.records, b.large, &mut seen);
                }
                _ => match queue.take_into(&mut inbox) {
                    Some(t) => match t.slab {
                        Some(i) => {
                            // SAFETY: test only; the slab was handed to "JS".
                            let bytes = unsafe { slabs.slice(i, t.len) }.to_vec();
                            check(&bytes, t.large, &mut seen);
                            lent = Some((i, bytes));
                            slab_takes += 1;
                        }
                        None => check(&inbox[..t.len], t.large, &mut seen),
                    },
                    None => {
                        let b = queue.take();
                        check(&b.records, b.large, &mut seen);
                    }
                },
            }
        }
        let b = queue.take();
        check(&b.records, b.large, &mut seen);
        assert_eq!(seen, (0..pushed).collect::<Vec<_>>());
        assert!(slab_takes > 100, "slabs were used ({slab_takes} times)");
        assert_eq!(queue.batch.lock().unwrap().bytes(), 0);
    }
}
