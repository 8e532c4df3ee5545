//! An independent raw deflate decoder (RFC 1951), after Mark Adler's `puff.c`:
//! written for clarity, bit by bit, sharing no code with zlib-rs. The `inflate`
//! target compares zlib-rs (through the receiver) with it, and uses it to see the
//! longest back-reference our deflater emits (zlib cannot inflate with a window
//! below 9 bits, so it cannot check an 8-bit window).
//!
//! One call decodes one message's bytes (the trailer `00 00 ff ff` appended by
//! the caller) and says how the stream was left; the output so far stays in the
//! history, so the next call may refer back into it (context takeover).

use std::sync::OnceLock;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every input bit was used and the stream is between blocks.
    Boundary,
    /// A block with BFINAL set ended; `consumed` bytes (its last one partly)
    /// were used. The stream is over: the next message starts a new one.
    Final { consumed: usize },
    /// The input ended inside a block or a header: zlib would wait for more.
    Incomplete,
    /// The output passed `max_out`.
    Overflow,
    /// Invalid data, found at this bit.
    Invalid { at_bit: usize },
}

pub struct Decoded {
    pub stop: Stop,
    /// This call's output.
    pub output: Vec<u8>,
    /// The longest distance of a back-reference in this call (0 if none).
    pub max_distance: usize,
}

/// A raw deflate stream, possibly spread over several calls.
#[derive(Default)]
pub struct Puff {
    /// Everything output since the stream started (all of it: fuzz inputs are small).
    history: Vec<u8>,
}

const MAX_BITS: usize = 15;

/// The fixed literal/length and distance codes (RFC 1951 3.2.6).
static FIXED: OnceLock<(Huffman, Huffman)> = OnceLock::new();
const WINDOW: usize = 1 << 15;

#[derive(Debug)]
enum Error {
    /// Out of input.
    Short,
    Invalid,
    Overflow,
}

struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<usize, Error> {
        let byte = *self.data.get(self.pos >> 3).ok_or(Error::Short)?;
        let bit = usize::from(byte >> (self.pos & 7) & 1);
        self.pos += 1;
        Ok(bit)
    }

    /// `count` bits, least significant first.
    fn take(&mut self, count: usize) -> Result<usize, Error> {
        let mut value = 0;
        for i in 0..count {
            value |= self.bit()? << i;
        }
        Ok(value)
    }
}

/// A canonical Huffman code: codes per length, symbols in code order.
struct Huffman {
    counts: [usize; MAX_BITS + 1],
    symbols: Vec<usize>,
}

impl Huffman {
    /// Ok with the number of unused codes (0: complete); Err if over-subscribed.
    fn new(lengths: &[u8]) -> (Huffman, Result<usize, ()>) {
        let mut counts = [0; MAX_BITS + 1];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        // Symbols sorted by code length, then by value (canonical order).
        let mut offsets = [0; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0; offsets[MAX_BITS + 1]];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbols[offsets[usize::from(len)]] = symbol;
                offsets[usize::from(len)] += 1;
            }
        }
        let mut left: isize = 1;
        let mut status = Ok(0);
        if counts[0] != lengths.len() {
            for &count in &counts[1..] {
                left = left * 2 - count as isize;
                if left < 0 {
                    status = Err(());
                    break;
                }
            }
            if status.is_ok() {
                status = Ok(left as usize);
            }
        } else {
            // No codes at all: every code is unused.
            status = Ok(1 << MAX_BITS);
        }
        (Huffman { counts, symbols }, status)
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<usize, Error> {
        let (mut code, mut first, mut index) = (0usize, 0usize, 0usize);
        for len in 1..=MAX_BITS {
            code |= bits.bit()?;
            let count = self.counts[len];
            if code < first + count {
                return Ok(self.symbols[index + code - first]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Error::Invalid)
    }

    /// Codes that are complete, or incomplete with a single code of length 1 (as
    /// zlib and puff allow for the literal/length and distance codes).
    fn acceptable(&self, status: Result<usize, ()>, symbols: usize) -> bool {
        match status {
            Err(()) => false,
            Ok(0) => true,
            Ok(_) => symbols == self.counts[0] + self.counts[1],
        }
    }
}

const LENGTH_BASE: [usize; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [usize; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [usize; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [usize; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order of the code length code lengths.
const ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

struct Run<'a, 'b> {
    bits: Bits<'a>,
    history: &'b mut Vec<u8>,
    start: usize,
    max_out: usize,
    max_distance: usize,
}

impl Run<'_, '_> {
    fn push(&mut self, byte: u8) -> Result<(), Error> {
        self.history.push(byte);
        if self.history.len() - self.start > self.max_out {
            return Err(Error::Overflow);
        }
        Ok(())
    }

    fn stored(&mut self) -> Result<(), Error> {
        self.bits.pos = self.bits.pos.div_ceil(8) * 8;
        let len = self.bits.take(16)?;
        let nlen = self.bits.take(16)?;
        if len != !nlen & 0xFFFF {
            return Err(Error::Invalid);
        }
        for _ in 0..len {
            let byte = self.bits.take(8)? as u8;
            self.push(byte)?;
        }
        Ok(())
    }

    fn codes(&mut self, lencode: &Huffman, distcode: &Huffman) -> Result<(), Error> {
        loop {
            let symbol = lencode.decode(&mut self.bits)?;
            if symbol < 256 {
                self.push(symbol as u8)?;
                continue;
            }
            if symbol == 256 {
                return Ok(());
            }
            let symbol = symbol - 257;
            if symbol >= 29 {
                return Err(Error::Invalid);
            }
            let len = LENGTH_BASE[symbol] + self.bits.take(LENGTH_EXTRA[symbol])?;
            let symbol = distcode.decode(&mut self.bits)?;
            if symbol >= 30 {
                return Err(Error::Invalid);
            }
            let dist = DIST_BASE[symbol] + self.bits.take(DIST_EXTRA[symbol])?;
            if dist > self.history.len().min(WINDOW) {
                return Err(Error::Invalid); // distance too far back
            }
            self.max_distance = self.max_distance.max(dist);
            for _ in 0..len {
                let byte = self.history[self.history.len() - dist];
                self.push(byte)?;
            }
        }
    }

    fn fixed(&mut self) -> Result<(), Error> {
        let (lencode, distcode) = FIXED.get_or_init(|| {
            let mut lengths = [0u8; 288];
            lengths[..144].fill(8);
            lengths[144..256].fill(9);
            lengths[256..280].fill(7);
            lengths[280..].fill(8);
            // 32 distance codes, so 30 and 31 decode (and are refused) after 5 bits,
            // as in zlib.
            (Huffman::new(&lengths).0, Huffman::new(&[5; 32]).0)
        });
        self.codes(lencode, distcode)
    }

    fn dynamic(&mut self) -> Result<(), Error> {
        let nlen = self.bits.take(5)? + 257;
        let ndist = self.bits.take(5)? + 1;
        let ncode = self.bits.take(4)? + 4;
        if nlen > 286 || ndist > 30 {
            return Err(Error::Invalid);
        }
        let mut lengths = [0u8; 19];
        for &index in &ORDER[..ncode] {
            lengths[index] = self.bits.take(3)? as u8;
        }
        let (lencode, status) = Huffman::new(&lengths);
        if status != Ok(0) {
            return Err(Error::Invalid); // the code length code must be complete
        }
        let mut lengths = [0u8; 316];
        let mut index = 0;
        while index < nlen + ndist {
            let symbol = lencode.decode(&mut self.bits)?;
            if symbol < 16 {
                lengths[index] = symbol as u8;
                index += 1;
                continue;
            }
            let (value, count) = match symbol {
                16 => {
                    if index == 0 {
                        return Err(Error::Invalid); // repeat with no first length
                    }
                    (lengths[index - 1], 3 + self.bits.take(2)?)
                }
                17 => (0, 3 + self.bits.take(3)?),
                _ => (0, 11 + self.bits.take(7)?),
            };
            if index + count > nlen + ndist {
                return Err(Error::Invalid); // too many lengths
            }
            lengths[index..index + count].fill(value);
            index += count;
        }
        if lengths[256] == 0 {
            return Err(Error::Invalid); // no end-of-block code
        }
        let (lencode, status) = Huffman::new(&lengths[..nlen]);
        if !lencode.acceptable(status, nlen) {
            return Err(Error::Invalid);
        }
        let (distcode, status) = Huffman::new(&lengths[nlen..nlen + ndist]);
        if !distcode.acceptable(status, ndist) {
            return Err(Error::Invalid);
        }
        self.codes(&lencode, &distcode)
    }
}

impl Puff {
    pub fn new() -> Self {
        Puff::default()
    }

    /// Forgets the stream (a new one starts).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Decodes `input` as the continuation of the stream, stopping once more
    /// than `max_out` bytes came out. After `Final`, the stream is reset.
    pub fn inflate(&mut self, input: &[u8], max_out: usize) -> Decoded {
        let start = self.history.len();
        let mut run = Run {
            bits: Bits {
                data: input,
                pos: 0,
            },
            history: &mut self.history,
            start,
            max_out,
            max_distance: 0,
        };
        let stop = loop {
            if run.bits.pos == input.len() * 8 {
                break Stop::Boundary;
            }
            let mut last = false;
            let result = run.bits.take(3).and_then(|header| {
                last = header & 1 == 1;
                match header >> 1 {
                    0 => run.stored(),
                    1 => run.fixed(),
                    2 => run.dynamic(),
                    _ => Err(Error::Invalid),
                }
            });
            match result {
                Ok(()) if last => {
                    break Stop::Final {
                        consumed: run.bits.pos.div_ceil(8),
                    };
                }
                Ok(()) => {}
                Err(Error::Short) => break Stop::Incomplete,
                Err(Error::Overflow) => break Stop::Overflow,
                Err(Error::Invalid) => {
                    break Stop::Invalid {
                        at_bit: run.bits.pos,
                    }
                }
            }
        };
        let max_distance = run.max_distance;
        let output = self.history[start..].to_vec();
        if matches!(stop, Stop::Final { .. }) {
            self.history.clear();
        }
        Decoded {
            stop,
            output,
            max_distance,
        }
    }
}
