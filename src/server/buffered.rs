//! Bytes queued in user space per connection, in one table shared with the JS thread.
//!
//! JS reads a connection's entry directly through an external `Uint32Array` over this
//! memory, so `ws.send()` can answer uWS.js's 1/0/2 backpressure status without a native
//! call. The table is mapped straight from the OS on Unix (fresh pages are zero, and only
//! the pages of ids in use ever become resident; unmapping returns them all), so an App
//! costs its 4 MiB of address space but not 4 MiB of memory. Through the allocator, a
//! zeroed block reused from freed memory would be cleared, and so made resident, in full.

use std::sync::atomic::{AtomicU32, Ordering};

/// Connections one App can hold at once (ids are indexes into this table).
pub const MAX_CONNECTIONS: usize = 1 << 20;

const BYTES: usize = MAX_CONNECTIONS * std::mem::size_of::<AtomicU32>();

pub struct BufferedTable {
    ptr: std::ptr::NonNull<AtomicU32>,
}

// SAFETY: the table is a fixed block of atomics, owned by this value until it is dropped.
unsafe impl Send for BufferedTable {}
unsafe impl Sync for BufferedTable {}

impl BufferedTable {
    pub fn new() -> BufferedTable {
        BufferedTable {
            ptr: alloc_zeroed(),
        }
    }

    fn slots(&self) -> &[AtomicU32] {
        // SAFETY: `ptr` is a live, zero-initialized block of MAX_CONNECTIONS atomics
        // (AtomicU32 is valid when zeroed) until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), MAX_CONNECTIONS) }
    }

    /// Saturates at u32::MAX (4 GiB), far above any sensible backpressure limit.
    pub fn set(&self, id: u32, bytes: usize) {
        if let Some(slot) = self.slots().get(id as usize) {
            slot.store(u32::try_from(bytes).unwrap_or(u32::MAX), Ordering::Relaxed);
        }
    }

    /// The table's memory, for the JS view. Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr() as *mut u8
    }

    pub fn byte_len(&self) -> usize {
        BYTES
    }
}

impl Drop for BufferedTable {
    fn drop(&mut self) {
        // SAFETY: allocated by `alloc_zeroed` with BYTES, freed once.
        unsafe { free(self.ptr, BYTES) }
    }
}

impl Default for BufferedTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(unix)]
fn alloc_zeroed() -> std::ptr::NonNull<AtomicU32> {
    // SAFETY: an anonymous private mapping; checked for failure below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::alloc::handle_alloc_error(layout());
    }
    std::ptr::NonNull::new(ptr as *mut AtomicU32).expect("mmap returned null")
}

#[cfg(unix)]
unsafe fn free(ptr: std::ptr::NonNull<AtomicU32>, len: usize) {
    unsafe { libc::munmap(ptr.as_ptr() as *mut libc::c_void, len) };
}

#[cfg(not(unix))]
fn alloc_zeroed() -> std::ptr::NonNull<AtomicU32> {
    // SAFETY: a non-zero-sized layout.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout()) } as *mut AtomicU32;
    std::ptr::NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout()))
}

#[cfg(not(unix))]
unsafe fn free(ptr: std::ptr::NonNull<AtomicU32>, _len: usize) {
    unsafe { std::alloc::dealloc(ptr.as_ptr() as *mut u8, layout()) };
}

fn layout() -> std::alloc::Layout {
    std::alloc::Layout::array::<AtomicU32>(MAX_CONNECTIONS).expect("table layout fits in memory")
}
