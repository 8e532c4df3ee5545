//! A fixed, zeroed block of memory mapped straight from the OS on Unix, for the per-App
//! tables JS reads in place (`buffered.rs`, `slabs.rs`): fresh pages are zero and only
//! the pages touched ever become resident, and unmapping returns them all. Through the
//! allocator, a zeroed block reused from freed memory would be cleared, and so made
//! resident, in full.

use std::ptr::NonNull;

pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: plain bytes owned by this value until it is dropped; who writes what is the
// owner's protocol.
unsafe impl Send for Pages {}
unsafe impl Sync for Pages {}

impl Pages {
    /// `len` zeroed bytes, page aligned.
    pub fn new(len: usize) -> Pages {
        assert!(len > 0);
        Pages { ptr: map(len), len }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn byte_len(&self) -> usize {
        self.len
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: mapped by `map` with `len`, unmapped once.
        unsafe { unmap(self.ptr, self.len) }
    }
}

#[cfg(unix)]
fn map(len: usize) -> NonNull<u8> {
    // SAFETY: an anonymous private mapping; checked for failure below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::alloc::handle_alloc_error(layout(len));
    }
    NonNull::new(ptr as *mut u8).expect("mmap returned null")
}

#[cfg(unix)]
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    unsafe { libc::munmap(ptr.as_ptr() as *mut libc::c_void, len) };
}

#[cfg(not(unix))]
fn map(len: usize) -> NonNull<u8> {
    // SAFETY: a non-zero-sized layout.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout(len)) };
    NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout(len)))
}

#[cfg(not(unix))]
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout(len)) };
}

fn layout(len: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(len, 4096).expect("page layout")
}

#[cfg(test)]
mod tests {
    use super::Pages;

    #[test]
    fn zeroed_writable_and_page_aligned() {
        let p = Pages::new(3 * 4096);
        assert_eq!(p.as_ptr() as usize % 4096, 0);
        // SAFETY: within the block, owned here.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), p.byte_len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[3 * 4096 - 1] = 7;
        assert_eq!(bytes[3 * 4096 - 1], 7);
    }
}
