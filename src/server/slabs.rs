//! Two fixed buffers that event records are written into by the I/O threads and read in
//! place by JS (each exposed to JS once, as an external `ArrayBuffer`): a batch that fits
//! reaches the handlers without being copied into JS's inbox first.
//!
//! Ownership is by protocol, not by type: the I/O threads write only the slab being
//! filled, under the event queue's lock; JS reads only the slab it was handed, until it
//! asks for the next batch (which is when the two change roles). The memory lives as long
//! as the queue or any JS view of it.

use super::pages::Pages;

/// Bytes per slab: a batch up to this size crosses without a copy.
pub const SLAB_LEN: usize = 256 * 1024;

/// Both slabs, one after the other, mapped from the OS ([`Pages`]): an App that never sees
/// a large batch keeps only the pages its batches touched, not 512 KiB. Who may touch
/// which slab when is the queue's protocol (see the module docs), enforced by the event
/// queue's lock on the Rust side.
pub struct Slabs {
    pages: Pages,
}

const BYTES: usize = 2 * SLAB_LEN;

impl Slabs {
    pub fn new() -> Self {
        Slabs {
            pages: Pages::new(BYTES),
        }
    }

    pub fn as_ptr(&self, slab: usize) -> *mut u8 {
        assert!(slab < 2);
        // SAFETY: within the block of 2 * SLAB_LEN bytes.
        unsafe { self.pages.as_ptr().add(slab * SLAB_LEN) }
    }

    /// Copies `bytes` into `slab` at `at`.
    ///
    /// # Safety
    /// The caller has exclusive access to that range: the slab is the one being filled,
    /// and the caller holds the event queue's lock.
    pub unsafe fn write(&self, slab: usize, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= SLAB_LEN);
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.as_ptr(slab).add(at), bytes.len())
        }
    }

    /// The first `len` bytes of `slab`.
    ///
    /// # Safety
    /// Nobody writes that slab while the slice lives (the caller holds the event queue's
    /// lock, or the slab was handed to JS).
    pub unsafe fn slice(&self, slab: usize, len: usize) -> &[u8] {
        assert!(len <= SLAB_LEN);
        unsafe { std::slice::from_raw_parts(self.as_ptr(slab), len) }
    }
}

impl Default for Slabs {
    fn default() -> Self {
        Self::new()
    }
}
