//! The uWebSockets.js v20 `compression` option bits, and what each asks of
//! zlib.
//!
//! The numbers are those uWS.js exports (printed from `uws-pack`), so a
//! value written for uWS.js means the same here. A compressor and a
//! decompressor combine with bitwise OR.
//!
//! | option                          | value   | meaning here                                   |
//! |---------------------------------|---------|------------------------------------------------|
//! | `DISABLED`                      | `0x000` | no permessage-deflate                          |
//! | `SHARED_COMPRESSOR`             | `0x001` | `server_no_context_takeover`, window 15        |
//! | `DEDICATED_COMPRESSOR_3KB`      | `0x091` | context takeover, window 9  (uWS memLevel 1)   |
//! | `DEDICATED_COMPRESSOR_4KB`      | `0x092` | context takeover, window 9  (uWS memLevel 2)   |
//! | `DEDICATED_COMPRESSOR_8KB`      | `0x0A3` | context takeover, window 10 (uWS memLevel 3)   |
//! | `DEDICATED_COMPRESSOR_16KB`     | `0x0B4` | context takeover, window 11 (uWS memLevel 4)   |
//! | `DEDICATED_COMPRESSOR_32KB`     | `0x0C5` | context takeover, window 12 (uWS memLevel 5)   |
//! | `DEDICATED_COMPRESSOR_64KB`     | `0x0D6` | context takeover, window 13 (uWS memLevel 6)   |
//! | `DEDICATED_COMPRESSOR_128KB`    | `0x0E7` | context takeover, window 14 (uWS memLevel 7)   |
//! | `DEDICATED_COMPRESSOR_256KB`    | `0x0F8` | context takeover, window 15 (uWS memLevel 8)   |
//! | `SHARED_DECOMPRESSOR`           | `0x100` | `client_no_context_takeover`                   |
//! | `DEDICATED_DECOMPRESSOR_512B`   | `0x900` | client context takeover, ask client window 9   |
//! | `DEDICATED_DECOMPRESSOR_1KB`    | `0xA00` | client context takeover, ask client window 10  |
//! | `DEDICATED_DECOMPRESSOR_2KB`    | `0xB00` | client context takeover, ask client window 11  |
//! | `DEDICATED_DECOMPRESSOR_4KB`    | `0xC00` | client context takeover, ask client window 12  |
//! | `DEDICATED_DECOMPRESSOR_8KB`    | `0xD00` | client context takeover, ask client window 13  |
//! | `DEDICATED_DECOMPRESSOR_16KB`   | `0xE00` | client context takeover, ask client window 14  |
//! | `DEDICATED_DECOMPRESSOR_32KB`   | `0xF00` | client context takeover, ask client window 15  |
//!
//! Bits 4-7 are the compressor's zlib `windowBits` and bits 0-3 its
//! `memLevel` (0 in both means shared); bits 8-11 are the decompressor's
//! `windowBits` (1 means shared, 0 also means shared, as in uWS).
//!
//! Differences from uWS, forced by the zlib we use (zlib-rs through flate2):
//! - `memLevel` is not applied: flate2 does not expose it, so every
//!   compressor uses zlib's default of 8. It changes memory and ratio only,
//!   never what the peer receives.
//! - A decompressor's window only changes what we ask of the client
//!   (`client_max_window_bits`, which the RFC lets us send only when the
//!   client offered it): zlib-rs allocates a 32 KiB inflate window whatever
//!   the bits, and a 15-bit inflater decodes every smaller window, so we
//!   always inflate with 15.
//! - "Shared" becomes "no context takeover": each message is compressed or
//!   decompressed on its own with a thread-local zlib stream
//!   (see [`super::compress_standalone`]), so the connection itself holds no
//!   zlib state.

pub const DISABLED: u32 = 0;
pub const SHARED_COMPRESSOR: u32 = 1;
pub const SHARED_DECOMPRESSOR: u32 = 1 << 8;
pub const DEDICATED_COMPRESSOR_3KB: u32 = 9 << 4 | 1;
pub const DEDICATED_COMPRESSOR_4KB: u32 = 9 << 4 | 2;
pub const DEDICATED_COMPRESSOR_8KB: u32 = 10 << 4 | 3;
pub const DEDICATED_COMPRESSOR_16KB: u32 = 11 << 4 | 4;
pub const DEDICATED_COMPRESSOR_32KB: u32 = 12 << 4 | 5;
pub const DEDICATED_COMPRESSOR_64KB: u32 = 13 << 4 | 6;
pub const DEDICATED_COMPRESSOR_128KB: u32 = 14 << 4 | 7;
pub const DEDICATED_COMPRESSOR_256KB: u32 = 15 << 4 | 8;
/// Same as `DEDICATED_COMPRESSOR_256KB`.
pub const DEDICATED_COMPRESSOR: u32 = DEDICATED_COMPRESSOR_256KB;
pub const DEDICATED_DECOMPRESSOR_512B: u32 = 9 << 8;
pub const DEDICATED_DECOMPRESSOR_1KB: u32 = 10 << 8;
pub const DEDICATED_DECOMPRESSOR_2KB: u32 = 11 << 8;
pub const DEDICATED_DECOMPRESSOR_4KB: u32 = 12 << 8;
pub const DEDICATED_DECOMPRESSOR_8KB: u32 = 13 << 8;
pub const DEDICATED_DECOMPRESSOR_16KB: u32 = 14 << 8;
pub const DEDICATED_DECOMPRESSOR_32KB: u32 = 15 << 8;
/// Same as `DEDICATED_DECOMPRESSOR_32KB`.
pub const DEDICATED_DECOMPRESSOR: u32 = DEDICATED_DECOMPRESSOR_32KB;

/// What the server's option bits ask for, before hearing the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Wanted {
    /// The compressor's window, or None for a shared compressor.
    pub compressor_window: Option<u8>,
    /// The client window the decompressor asks for, or None for a shared
    /// decompressor.
    pub decompressor_window: Option<u8>,
}

impl Wanted {
    /// None when compression is disabled. Window values that no uWS
    /// constant produces (1-8, from hand-made numbers) are raised to 9, the
    /// smallest window zlib compresses with.
    pub fn from_options(options: u32) -> Option<Wanted> {
        if options == DISABLED {
            return None;
        }
        let nibble = |shift: u32| ((options >> shift) & 0xF) as u8;
        let compressor_window = match nibble(4) {
            0 => None,
            bits => Some(bits.max(9)),
        };
        let decompressor_window = match nibble(8) {
            0 | 1 => None,
            bits => Some(bits.max(9)),
        };
        Some(Wanted {
            compressor_window,
            decompressor_window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_uws_js_v20() {
        // Printed from uws-pack: node -e "import('uws-pack').then(u => ...)".
        let printed = [
            (DISABLED, 0),
            (SHARED_COMPRESSOR, 1),
            (SHARED_DECOMPRESSOR, 256),
            (DEDICATED_COMPRESSOR_3KB, 145),
            (DEDICATED_COMPRESSOR_4KB, 146),
            (DEDICATED_COMPRESSOR_8KB, 163),
            (DEDICATED_COMPRESSOR_16KB, 180),
            (DEDICATED_COMPRESSOR_32KB, 197),
            (DEDICATED_COMPRESSOR_64KB, 214),
            (DEDICATED_COMPRESSOR_128KB, 231),
            (DEDICATED_COMPRESSOR_256KB, 248),
            (DEDICATED_COMPRESSOR, 248),
            (DEDICATED_DECOMPRESSOR_512B, 2304),
            (DEDICATED_DECOMPRESSOR_1KB, 2560),
            (DEDICATED_DECOMPRESSOR_2KB, 2816),
            (DEDICATED_DECOMPRESSOR_4KB, 3072),
            (DEDICATED_DECOMPRESSOR_8KB, 3328),
            (DEDICATED_DECOMPRESSOR_16KB, 3584),
            (DEDICATED_DECOMPRESSOR_32KB, 3840),
            (DEDICATED_DECOMPRESSOR, 3840),
        ];
        for (constant, value) in printed {
            assert_eq!(constant, value);
        }
    }

    #[test]
    fn decoding() {
        let wanted = |options| {
            Wanted::from_options(options).map(|w| (w.compressor_window, w.decompressor_window))
        };
        assert_eq!(wanted(DISABLED), None);
        assert_eq!(wanted(SHARED_COMPRESSOR), Some((None, None)));
        assert_eq!(
            wanted(SHARED_COMPRESSOR | SHARED_DECOMPRESSOR),
            Some((None, None))
        );
        assert_eq!(wanted(DEDICATED_DECOMPRESSOR), Some((None, Some(15))));
        let compressors = [
            (DEDICATED_COMPRESSOR_3KB, 9),
            (DEDICATED_COMPRESSOR_4KB, 9),
            (DEDICATED_COMPRESSOR_8KB, 10),
            (DEDICATED_COMPRESSOR_16KB, 11),
            (DEDICATED_COMPRESSOR_32KB, 12),
            (DEDICATED_COMPRESSOR_64KB, 13),
            (DEDICATED_COMPRESSOR_128KB, 14),
            (DEDICATED_COMPRESSOR_256KB, 15),
        ];
        for (option, window) in compressors {
            assert_eq!(wanted(option), Some((Some(window), None)), "{option:#x}");
        }
        let decompressors = [
            (DEDICATED_DECOMPRESSOR_512B, 9),
            (DEDICATED_DECOMPRESSOR_1KB, 10),
            (DEDICATED_DECOMPRESSOR_2KB, 11),
            (DEDICATED_DECOMPRESSOR_4KB, 12),
            (DEDICATED_DECOMPRESSOR_8KB, 13),
            (DEDICATED_DECOMPRESSOR_16KB, 14),
            (DEDICATED_DECOMPRESSOR_32KB, 15),
        ];
        for (option, window) in decompressors {
            let combined = DEDICATED_COMPRESSOR_8KB | option;
            assert_eq!(
                wanted(combined),
                Some((Some(10), Some(window))),
                "{combined:#x}"
            );
        }
        // Hand-made windows below zlib's minimum are raised to 9.
        assert_eq!(wanted(0x2_31), Some((Some(9), Some(9))));
    }
}
