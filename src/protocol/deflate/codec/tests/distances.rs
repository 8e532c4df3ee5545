//! A minimal deflate reader that reports the longest back-reference in a
//! stream, to check window limits (zlib-rs and miniz_oxide always keep a
//! 32 KiB window, so they cannot). It only walks the symbols.

struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl Bits<'_> {
    fn has_more(&self) -> bool {
        self.pos < self.data.len() * 8
    }

    fn take(&mut self, count: u32) -> usize {
        let mut value = 0;
        for i in 0..count {
            let byte = self.data[self.pos / 8];
            value |= usize::from((byte >> (self.pos % 8)) & 1) << i;
            self.pos += 1;
        }
        value
    }
}

/// A canonical Huffman code as counts per length and symbols in code order.
struct Code {
    counts: [usize; 16],
    symbols: Vec<usize>,
}

impl Code {
    fn new(lengths: &[u8]) -> Code {
        let mut counts = [0; 16];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        counts[0] = 0;
        let mut symbols = Vec::new();
        for len in 1..16u8 {
            symbols.extend((0..lengths.len()).filter(|&s| lengths[s] == len));
        }
        Code { counts, symbols }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> usize {
        let (mut code, mut first, mut index) = (0, 0, 0);
        for len in 1..16 {
            code |= bits.take(1);
            let count = self.counts[len];
            if code < first + count {
                return self.symbols[index + code - first];
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        panic!("invalid Huffman code");
    }
}

const LENGTH_BASE: [usize; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [usize; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The longest distance used by a raw deflate stream that ends on a block
/// boundary (as a sync-flushed message with its trailer does).
pub fn longest_distance(stream: &[u8]) -> usize {
    let mut bits = Bits {
        data: stream,
        pos: 0,
    };
    let mut longest = 0;
    while bits.has_more() && bits.data.len() * 8 - bits.pos >= 8 {
        let _final = bits.take(1);
        match bits.take(2) {
            0 => {
                bits.pos = bits.pos.div_ceil(8) * 8;
                let len = bits.take(16);
                bits.take(16);
                bits.pos += len * 8;
            }
            1 => {
                let mut lengths = [8u8; 288];
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                longest = longest.max(symbols(
                    &mut bits,
                    &Code::new(&lengths),
                    &Code::new(&[5; 30]),
                ));
            }
            2 => {
                let (literals, distances) = dynamic_codes(&mut bits);
                longest = longest.max(symbols(&mut bits, &literals, &distances));
            }
            _ => panic!("reserved block type"),
        }
    }
    longest
}

fn dynamic_codes(bits: &mut Bits<'_>) -> (Code, Code) {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let literal_count = bits.take(5) + 257;
    let distance_count = bits.take(5) + 1;
    let length_code_count = bits.take(4) + 4;
    let mut length_lengths = [0u8; 19];
    for &symbol in &ORDER[..length_code_count] {
        length_lengths[symbol] = bits.take(3) as u8;
    }
    let length_code = Code::new(&length_lengths);
    let mut lengths = Vec::new();
    while lengths.len() < literal_count + distance_count {
        match length_code.decode(bits) {
            len @ 0..=15 => lengths.push(len as u8),
            16 => {
                let previous = *lengths.last().unwrap();
                let repeat = 3 + bits.take(2);
                lengths.extend(std::iter::repeat_n(previous, repeat));
            }
            17 => lengths.extend(std::iter::repeat_n(0, 3 + bits.take(3))),
            _ => lengths.extend(std::iter::repeat_n(0, 11 + bits.take(7))),
        }
    }
    let (literal, distance) = lengths.split_at(literal_count);
    (Code::new(literal), Code::new(distance))
}

fn symbols(bits: &mut Bits<'_>, literals: &Code, distances: &Code) -> usize {
    let mut longest = 0;
    loop {
        match literals.decode(bits) {
            0..=255 => {}
            256 => return longest,
            symbol => {
                let index = symbol - 257;
                let _length = LENGTH_BASE[index] + bits.take(LENGTH_EXTRA[index]);
                let code = distances.decode(bits);
                longest = longest.max(DIST_BASE[code] + bits.take(DIST_EXTRA[code]));
            }
        }
    }
}
