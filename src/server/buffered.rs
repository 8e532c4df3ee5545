//! Bytes queued in user space per connection, in one table shared with the JS thread.
//!
//! JS reads a connection's entry directly through an external `Uint32Array` over this
//! memory, so `ws.send()` can answer uWS.js's 1/0/2 backpressure status without a native
//! call. The table is mapped from the OS ([`Pages`]): only the pages of ids in use become
//! resident, so an App costs its 4 MiB of address space but not 4 MiB of memory.

use std::sync::atomic::{AtomicU32, Ordering};

use super::pages::Pages;

/// Connections one App can hold at once (ids are indexes into this table).
pub const MAX_CONNECTIONS: usize = 1 << 20;

const BYTES: usize = MAX_CONNECTIONS * std::mem::size_of::<AtomicU32>();

pub struct BufferedTable {
    pages: Pages,
}

impl BufferedTable {
    pub fn new() -> BufferedTable {
        BufferedTable {
            pages: Pages::new(BYTES),
        }
    }

    fn slots(&self) -> &[AtomicU32] {
        // SAFETY: `pages` is a live, zeroed, page-aligned block of MAX_CONNECTIONS atomics
        // (AtomicU32 is valid when zeroed) while `self` lives.
        unsafe {
            std::slice::from_raw_parts(self.pages.as_ptr() as *const AtomicU32, MAX_CONNECTIONS)
        }
    }

    /// Saturates at u32::MAX (4 GiB), far above any sensible backpressure limit.
    pub fn set(&self, id: u32, bytes: usize) {
        if let Some(slot) = self.slots().get(id as usize) {
            slot.store(u32::try_from(bytes).unwrap_or(u32::MAX), Ordering::Relaxed);
        }
    }

    /// The table's memory, for the JS view. Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.pages.as_ptr()
    }

    pub fn byte_len(&self) -> usize {
        BYTES
    }
}

impl Default for BufferedTable {
    fn default() -> Self {
        Self::new()
    }
}
