//! Compressing and decompressing whole messages (RFC 7692 section 7.2).
//!
//! A message is raw deflate ended by a sync flush, whose final 4 bytes
//! (`00 00 ff ff`) the sender drops and the receiver puts back.
//!
//! Memory: a connection holds no zlib state until its first compressed
//! message, and none at all for a direction without context takeover: such
//! messages go through a thread-local stream that is reset after each one
//! (uWS's "shared" compressor and decompressor). zlib-rs allocates, per
//! compressor, a fixed 128 KiB hash table, 112 KiB of block buffers and 4
//! bytes per window byte (240-370 KiB); per decompressor, a 32 KiB window
//! plus its state.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

const TRAILER: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// zlib cannot compress raw deflate with an 8-bit window; 9 stands in for
/// it, since zlib never emits a distance beyond its window minus 262
/// bytes: 250 for 9 bits.
const MIN_ZLIB_WINDOW: u8 = 9;
const MAX_WINDOW: u8 = 15;

/// First output allocation when the compressed size suggests less.
const MIN_INFLATE_CHUNK: usize = 1024;

// Boxed: the addon is loaded with dlopen, where glibc has little room for static TLS
// (inline, these took 1.2 KiB and made loading fail with "cannot allocate memory in
// static TLS block").
thread_local! {
    /// Compressors for messages compressed on their own, one per window
    /// size (9..=15), made on first use. Reset after every message.
    static STANDALONE_COMPRESSORS: RefCell<Option<Box<[Option<Compress>; 7]>>> =
        const { RefCell::new(None) };
    /// Decompressor for messages compressed on their own; reset after every message.
    static STANDALONE_DECOMPRESSOR: RefCell<Option<Box<Decompress>>> = const { RefCell::new(None) };
}

/// Compresses one connection's outgoing messages.
pub struct Deflater {
    window_bits: u8,
    no_context_takeover: bool,
    /// The LZ77 context carried between messages (context takeover only).
    context: Option<Box<Compress>>,
}

impl Deflater {
    /// `window_bits` is the agreed `server_max_window_bits` (8..=15; other
    /// values are clamped into that range).
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Deflater {
            window_bits: zlib_window(window_bits),
            no_context_takeover,
            context: None,
        }
    }

    /// Appends the compressed payload of `message` to `out`, ready to send
    /// with RSV1 set ([`crate::protocol::frame::encode_compressed_frame`]).
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        if self.no_context_takeover {
            return compress_standalone(message, self.window_bits, out);
        }
        let window_bits = self.window_bits;
        let context = self
            .context
            .get_or_insert_with(|| Box::new(new_compressor(window_bits)));
        deflate_message(context, message, out);
    }

    /// Forgets the context, so the next message refers to no earlier one.
    /// Call it after this connection was sent a compressed message that did
    /// not come from this deflater (a shared frame from
    /// [`compress_standalone`]): the peer's window now holds that message,
    /// and our back-references would land in it.
    pub fn reset(&mut self) {
        if let Some(context) = &mut self.context {
            context.reset();
        }
    }
}

/// Appends the payload of `message` compressed on its own, referring to no
/// other message. The result can be sent, unchanged, to every connection
/// whose agreed `server_max_window_bits` is at least `window_bits` (with or
/// without context takeover; see [`Deflater::reset`]), so a publish
/// compresses once for all subscribers.
pub fn compress_standalone(message: &[u8], window_bits: u8, out: &mut Vec<u8>) {
    let window_bits = zlib_window(window_bits);
    STANDALONE_COMPRESSORS.with_borrow_mut(|compressors| {
        let compressors = compressors.get_or_insert_with(|| Box::new([const { None }; 7]));
        let slot = &mut compressors[usize::from(window_bits - MIN_ZLIB_WINDOW)];
        let compressor = slot.get_or_insert_with(|| new_compressor(window_bits));
        deflate_message(compressor, message, out);
        compressor.reset();
    });
}

fn zlib_window(window_bits: u8) -> u8 {
    window_bits.clamp(MIN_ZLIB_WINDOW, MAX_WINDOW)
}

fn new_compressor(window_bits: u8) -> Compress {
    Compress::new_with_window_bits(Compression::default(), false, window_bits)
}

fn deflate_message(compressor: &mut Compress, message: &[u8], out: &mut Vec<u8>) {
    if message.is_empty() {
        // An empty stored block without its trailer (RFC 7692 7.2.3.6).
        out.push(0x00);
        return;
    }
    let start = out.len();
    let in_start = compressor.total_in();
    loop {
        let consumed = (compressor.total_in() - in_start) as usize;
        let rest = &message[consumed..];
        out.reserve(rest.len() / 2 + 64);
        compressor
            .compress_vec(rest, out, FlushCompress::Sync)
            .expect("deflate only fails on a corrupted stream state");
        let done = compressor.total_in() - in_start == message.len() as u64;
        // Output space left over means the flush is complete.
        if done && out.len() < out.capacity() {
            break;
        }
    }
    debug_assert!(out[start..].ends_with(&TRAILER));
    out.truncate(out.len() - TRAILER.len());
}

/// Why a compressed message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It decompresses to more than the limit (close with 1009).
    TooBig,
    /// It is not valid deflate data (close with 1007).
    Corrupt,
}

/// Decompresses one connection's incoming messages.
pub struct Inflater {
    no_context_takeover: bool,
    /// The LZ77 context carried between messages (context takeover only).
    context: Option<Box<Decompress>>,
}

impl Inflater {
    /// Always inflates with a 15-bit window, which decodes every smaller
    /// window and costs zlib-rs the same memory.
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            no_context_takeover,
            context: None,
        }
    }

    /// Appends the decompressed `message` (a payload as received, trailer
    /// dropped) to `out`. More than `max_len` bytes is `TooBig`, found by
    /// growing `out` in steps up to `max_len + 1` bytes, so a small message
    /// that inflates hugely costs no more memory than the limit.
    pub fn decompress(
        &mut self,
        message: &[u8],
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InflateError> {
        if self.no_context_takeover {
            return STANDALONE_DECOMPRESSOR.with_borrow_mut(|slot| {
                let decompressor = slot.get_or_insert_with(|| Box::new(Decompress::new(false)));
                let result = inflate_message(decompressor, message, max_len, out);
                decompressor.reset(false);
                result
            });
        }
        let decompressor = self
            .context
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        let result = inflate_message(decompressor, message, max_len, out);
        if result.is_err() {
            decompressor.reset(false);
        }
        result
    }
}

fn inflate_message(
    decompressor: &mut Decompress,
    message: &[u8],
    max_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), InflateError> {
    let start = out.len();
    'parts: for (part, is_trailer) in [(message, false), (&TRAILER[..], true)] {
        let mut consumed = 0;
        loop {
            let produced = out.len() - start;
            if produced > max_len {
                return Err(InflateError::TooBig);
            }
            if out.len() == out.capacity() {
                // Double, starting from a guess, but stop one byte past the
                // limit: enough to see that it was passed.
                let room = max_len.saturating_add(1) - produced;
                let guess = produced.max(message.len().saturating_mul(2));
                out.reserve_exact(guess.max(MIN_INFLATE_CHUNK).min(room));
            }
            let (in_before, out_before) = (decompressor.total_in(), out.len());
            let status = decompressor
                .decompress_vec(&part[consumed..], out, FlushDecompress::None)
                .map_err(|_| InflateError::Corrupt)?;
            consumed += (decompressor.total_in() - in_before) as usize;
            if status == Status::StreamEnd {
                // The peer ended the deflate stream (a block with BFINAL
                // set). Only our trailer may follow; the next message
                // starts a new stream.
                if !is_trailer && consumed < part.len() {
                    return Err(InflateError::Corrupt);
                }
                decompressor.reset(false);
                break 'parts;
            }
            if consumed == part.len() && out.len() < out.capacity() {
                break;
            }
            if decompressor.total_in() == in_before && out.len() == out_before {
                // No progress with input and room left: zlib is stuck.
                return Err(InflateError::Corrupt);
            }
        }
    }
    if out.len() - start > max_len {
        return Err(InflateError::TooBig);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
