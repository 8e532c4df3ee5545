//! Bytes queued in user space per connection, in one table shared with the JS thread.
//!
//! JS reads a connection's entry directly through an external `Uint32Array` over this
//! memory, so `ws.send()` can answer uWS.js's 1/0/2 backpressure status without a native
//! call. The table is allocated zeroed (calloc), so untouched pages cost no memory.

use std::sync::atomic::{AtomicU32, Ordering};

/// Connections one App can hold at once (ids are indexes into this table).
pub const MAX_CONNECTIONS: usize = 1 << 20;

pub struct BufferedTable {
    slots: Box<[AtomicU32]>,
}

impl BufferedTable {
    pub fn new() -> BufferedTable {
        let layout = std::alloc::Layout::array::<AtomicU32>(MAX_CONNECTIONS)
            .expect("table layout fits in memory");
        // SAFETY: AtomicU32 is valid when zeroed; the pointer comes from the global
        // allocator with the layout of exactly this boxed slice, so Box may free it.
        let slots = unsafe {
            let ptr = std::alloc::alloc_zeroed(layout) as *mut AtomicU32;
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, MAX_CONNECTIONS))
        };
        BufferedTable { slots }
    }

    /// Saturates at u32::MAX (4 GiB), far above any sensible backpressure limit.
    pub fn set(&self, id: u32, bytes: usize) {
        if let Some(slot) = self.slots.get(id as usize) {
            slot.store(u32::try_from(bytes).unwrap_or(u32::MAX), Ordering::Relaxed);
        }
    }

    /// The table's memory, for the JS view. Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.slots.as_ptr() as *mut u8
    }

    pub fn byte_len(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

impl Default for BufferedTable {
    fn default() -> Self {
        Self::new()
    }
}
