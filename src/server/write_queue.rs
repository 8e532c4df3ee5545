//! A connection's outbound bytes that the kernel has not taken yet, in wire order.
//!
//! Large frames stay where they are (a publish's shared `Bytes` is queued by reference on
//! every subscriber), but small ones are copied together: a burst of small publishes to
//! one subscriber then reaches the socket as one slice instead of one iovec (and one
//! reference count) per frame. The kernel's per-iovec cost was the largest single item of
//! a 1 -> 100 x 20 B fan-out (`_copy_from_iter`, 15% of the server's samples).

use bytes::Bytes;
use std::collections::VecDeque;
use std::io::IoSlice;

/// Frames up to this size are copied into an owned chunk rather than referenced.
const SMALL: usize = 512;
/// An owned chunk grows to at most this size before a new one starts.
const CHUNK_MAX: usize = 64 * 1024;
/// Slices handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// First capacity of an owned chunk made for small frames.
const CHUNK_FIRST: usize = 1024;

enum Chunk {
    /// Bytes referenced where they lie (a shared publish frame, a held piece).
    Shared(Bytes),
    /// Bytes copied here, which later small frames can be appended to. A partial write
    /// turns it into `Shared` (no copy), whose front is then dropped in O(1).
    Owned(Vec<u8>),
}

impl Chunk {
    fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Owned(buf) => buf,
        }
    }

    /// The owned chunk, if this is one with room for `extra` more bytes, grown so that
    /// they fit. Growth doubles but stops at `CHUNK_MAX`: queued bytes (which the
    /// backpressure limit counts) never hold more than that in unused capacity.
    fn room_for(&mut self, extra: usize) -> Option<&mut Vec<u8>> {
        match self {
            Chunk::Owned(buf) if buf.len() + extra <= CHUNK_MAX => {
                let need = buf.len() + extra;
                if buf.capacity() < need {
                    let want = (buf.capacity() * 2).clamp(need, CHUNK_MAX);
                    buf.reserve_exact(want - buf.len());
                }
                Some(buf)
            }
            _ => None,
        }
    }
}

/// Boxed, made on first use and then kept: every open connection holds a `WriteQueue`,
/// most never queue anything (the socket takes their writes at once), and a box is 8
/// bytes where an empty `VecDeque` is 32.
#[derive(Default)]
pub struct WriteQueue {
    #[allow(clippy::box_collection)]
    chunks: Option<Box<VecDeque<Chunk>>>,
}

impl WriteQueue {
    pub fn is_empty(&self) -> bool {
        self.chunks.as_ref().is_none_or(|c| c.is_empty())
    }

    /// Queues a frame shared with other connections: by reference, unless it is small and
    /// something already waits, in which case it is copied behind what waits.
    pub fn push_shared(&mut self, frame: &Bytes) {
        let chunks = self.chunks.get_or_insert_default();
        if frame.len() > SMALL || chunks.is_empty() {
            chunks.push_back(Chunk::Shared(frame.clone()));
            return;
        }
        let back = chunks.back_mut().expect("not empty");
        if let Some(buf) = back.room_for(frame.len()) {
            buf.extend_from_slice(frame);
            return;
        }
        // A small referenced frame at the back is copied too, so the second of a burst
        // starts the owned chunk that the rest are appended to.
        if let Chunk::Shared(prev) = back {
            if prev.len() <= SMALL {
                let mut buf = Vec::with_capacity(CHUNK_FIRST.max(4 * (prev.len() + frame.len())));
                buf.extend_from_slice(prev);
                buf.extend_from_slice(frame);
                *back = Chunk::Owned(buf);
                return;
            }
        }
        let mut buf = Vec::with_capacity(CHUNK_FIRST.max(frame.len()));
        buf.extend_from_slice(frame);
        chunks.push_back(Chunk::Owned(buf));
    }

    /// Queues a copy of `pieces` without its first `skip` bytes (what the socket did not
    /// take of a direct write), appended to an owned chunk at the back when it has room.
    pub fn push_copy(&mut self, pieces: &[&[u8]], mut skip: usize) {
        let total: usize = pieces.iter().map(|p| p.len()).sum::<usize>() - skip;
        let chunks = self.chunks.get_or_insert_default();
        if chunks.back_mut().and_then(|c| c.room_for(total)).is_none() {
            chunks.push_back(Chunk::Owned(Vec::with_capacity(total)));
        }
        let Some(Chunk::Owned(buf)) = chunks.back_mut() else {
            return;
        };
        for p in pieces {
            let from = skip.min(p.len());
            skip -= from;
            buf.extend_from_slice(&p[from..]);
        }
    }

    /// Queues frames held back (publishes that waited for a fragmented message to end).
    pub fn append_held(&mut self, held: VecDeque<Bytes>) {
        for frame in held {
            self.push_shared(&frame);
        }
    }

    /// Calls `write` with the first chunks (at most [`MAX_IOVECS`]) as I/O slices.
    pub fn write_with<R>(&self, write: impl FnOnce(&[IoSlice<'_>]) -> R) -> R {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let mut n = 0;
        for (slot, chunk) in slices
            .iter_mut()
            .zip(self.chunks.iter().flat_map(|c| c.iter()))
        {
            *slot = IoSlice::new(chunk.as_slice());
            n += 1;
        }
        write(&slices[..n])
    }

    /// Drops the first `n` bytes (written to the socket).
    pub fn consume(&mut self, mut n: usize) {
        if n == 0 {
            return;
        }
        let chunks = self.chunks.as_mut().expect("written bytes were queued");
        while n > 0 {
            let front = chunks.front_mut().expect("written bytes were queued");
            let len = front.as_slice().len();
            if len <= n {
                n -= len;
                chunks.pop_front();
                continue;
            }
            if let Chunk::Owned(buf) = front {
                *front = Chunk::Shared(Bytes::from(std::mem::take(buf)));
            }
            if let Chunk::Shared(b) = front {
                let _ = b.split_to(n);
            }
            n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(q: &WriteQueue) -> (Vec<u8>, usize) {
        q.write_with(|slices| {
            (
                slices.iter().flat_map(|s| s.to_vec()).collect(),
                slices.len(),
            )
        })
    }

    #[test]
    fn chunk_is_no_larger_than_bytes() {
        assert_eq!(std::mem::size_of::<Chunk>(), std::mem::size_of::<Bytes>());
    }

    #[test]
    fn small_frames_are_copied_together_in_order() {
        let mut q = WriteQueue::default();
        let frames: Vec<Bytes> = (0..100u8).map(|i| Bytes::from(vec![i; 22])).collect();
        for f in &frames {
            q.push_shared(f);
        }
        let (bytes, n) = contents(&q);
        assert_eq!(n, 1, "one slice for a burst of small frames");
        assert_eq!(bytes, frames.concat());
    }

    #[test]
    fn large_frames_stay_shared_and_order_holds() {
        let mut q = WriteQueue::default();
        let small = Bytes::from_static(b"ab");
        let large = Bytes::from(vec![7u8; 4096]);
        q.push_shared(&small);
        q.push_shared(&small);
        q.push_shared(&large);
        q.push_shared(&small);
        q.push_copy(&[b"xy", b"z"], 1);
        let (bytes, n) = contents(&q);
        assert_eq!(n, 3);
        let mut want = b"abab".to_vec();
        want.extend_from_slice(&large);
        want.extend_from_slice(b"abyz");
        assert_eq!(bytes, want);
    }

    #[test]
    fn consume_handles_partial_chunks() {
        let mut q = WriteQueue::default();
        let big = Bytes::from((0..2000u32).map(|i| i as u8).collect::<Vec<_>>());
        q.push_copy(&[b"hello"], 0);
        q.push_shared(&big);
        q.push_shared(&Bytes::from_static(b"!"));
        q.push_shared(&Bytes::from_static(b"?"));
        let (all, _) = contents(&q);
        for step in [3, 2, 1000, 999, 1] {
            q.consume(step);
        }
        let (rest, _) = contents(&q);
        assert_eq!(rest, all[3 + 2 + 1000 + 999 + 1..]);
        q.consume(rest.len());
        assert!(q.is_empty());
    }

    #[test]
    fn owned_chunks_stop_growing_at_the_limit() {
        let mut q = WriteQueue::default();
        // 500 B frames: doubling from the first capacity would pass CHUNK_MAX.
        let frame = Bytes::from(vec![1u8; 500]);
        let n = 3 * CHUNK_MAX / 500;
        for _ in 0..n {
            q.push_shared(&frame);
        }
        q.write_with(|slices| {
            assert!(slices.iter().all(|s| s.len() <= CHUNK_MAX));
            assert_eq!(slices.iter().map(|s| s.len()).sum::<usize>(), n * 500);
        });
        for chunk in q.chunks.iter().flat_map(|c| c.iter()) {
            if let Chunk::Owned(buf) = chunk {
                assert!(buf.capacity() <= CHUNK_MAX, "capacity {}", buf.capacity());
            }
        }
    }
}
