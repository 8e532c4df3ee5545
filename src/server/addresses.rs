//! Peer addresses per connection id, in one table the JS thread reads in place.
//!
//! A connection's entry is written when it is registered, before its OPEN event is
//! queued; JS reads an entry only for ids whose OPEN it has dispatched (the event queue's
//! lock orders the two), and an id is given to a new connection only after JS released
//! it. So a WebSocket reads its address without a native call and keeps no copy of its
//! own, and the OPEN record does not carry it. Mapped from the OS as the table of
//! [`super::buffered`]: only the pages of ids in use become resident.

use super::buffered::MAX_CONNECTIONS;
use super::pages::Pages;

/// Bytes per entry: [`super::app::address_bytes`] (16-byte IPv6 or IPv4-mapped address,
/// then the port, little endian).
pub const ADDRESS_BYTES: usize = 18;

pub struct AddressTable {
    pages: Pages,
}

impl AddressTable {
    pub fn new() -> AddressTable {
        AddressTable {
            pages: Pages::new(MAX_CONNECTIONS * ADDRESS_BYTES),
        }
    }

    /// Stores the address of the connection being registered as `id`.
    pub fn set(&self, id: u32, address: &[u8; ADDRESS_BYTES]) {
        let at = id as usize * ADDRESS_BYTES;
        if at + ADDRESS_BYTES > self.pages.byte_len() {
            return;
        }
        // SAFETY: in bounds (checked above). The entry of an id no connection holds is
        // written only by the thread registering it, under the registry's lock, and read
        // by JS only after that connection's OPEN, which is queued after this write.
        unsafe {
            std::ptr::copy_nonoverlapping(
                address.as_ptr(),
                self.pages.as_ptr().add(at),
                ADDRESS_BYTES,
            )
        }
    }

    /// The table's memory, for the JS view. Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.pages.as_ptr()
    }

    pub fn byte_len(&self) -> usize {
        self.pages.byte_len()
    }
}

impl Default for AddressTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(table: &AddressTable, id: u32) -> [u8; ADDRESS_BYTES] {
        let mut out = [0u8; ADDRESS_BYTES];
        // SAFETY: reads one entry in bounds of the live table.
        let bytes = unsafe { std::slice::from_raw_parts(table.as_ptr(), table.byte_len()) };
        let at = id as usize * ADDRESS_BYTES;
        out.copy_from_slice(&bytes[at..at + ADDRESS_BYTES]);
        out
    }

    #[test]
    fn entries_are_kept_per_id_and_out_of_range_ids_ignored() {
        let table = AddressTable::new();
        let a: [u8; ADDRESS_BYTES] = std::array::from_fn(|i| i as u8 + 1);
        table.set(0, &a);
        table.set(7, &[9; ADDRESS_BYTES]);
        table.set(MAX_CONNECTIONS as u32, &[5; ADDRESS_BYTES]);
        assert_eq!(entry(&table, 0), a);
        assert_eq!(entry(&table, 7), [9; ADDRESS_BYTES]);
        assert_eq!(
            entry(&table, 6),
            [0; ADDRESS_BYTES],
            "untouched entries stay zero"
        );
        table.set(7, &[3; ADDRESS_BYTES]);
        assert_eq!(
            entry(&table, 7),
            [3; ADDRESS_BYTES],
            "a reused id's entry is replaced"
        );
    }
}
