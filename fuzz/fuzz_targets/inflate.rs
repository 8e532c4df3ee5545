//! permessage-deflate on the receiving side: a server Receiver with the inflater
//! that `deflate::negotiate` gives for a client offer (window bits 8..=15, context
//! takeover on or off), fed compressed messages (RSV1 on the first frame) cut into
//! fragments, with pings in between, and the stream cut into reads.
//!
//! Two modes:
//! * raw: the compressed payloads are the input bytes (the seeds hold real deflate
//!   streams, which the fuzzer damages). Expected: what flate2 (raw inflate of the
//!   message with `00 00 ff ff` appended, RFC 7692 7.2.2, one stream per connection
//!   with context takeover, a new one per message without) gives: the message if it
//!   inflates to at most the limit (and is UTF-8 when text), else close 1009, or 1007
//!   for invalid data. An independent decoder (`puff`) must agree wherever it can
//!   tell.
//! * round trip: the payloads are our `Deflater`'s output (or `compress_standalone`
//!   followed by `Deflater::reset`, as a publish does) for arbitrary messages; the
//!   receiver must deliver exactly the originals, and no back-reference may reach
//!   past the agreed window (checked with `puff`, which also covers 8 bits).
//!
//! Always: no panic; the events and the close code equal the reference's; the
//! receiver holds at most the limit plus a control frame; the heap grows by a few
//! times the limit at most during a `receive` (so a small message that inflates
//! hugely costs nothing); no event after the end.
#![no_main]

use std::cell::{Cell, RefCell};

use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use rsws::protocol::deflate::{compress_standalone, negotiate, options, Deflater, Negotiated};
use rsws::protocol::{encode_close_payload, encode_header, OpCode, Receiver, Role, MAX_HEADER_LEN};
use rsws_fuzz::puff::{Puff, Stop};
use rsws_fuzz::{cut_points, feed_bounded, heap, End, Event, Recorder};

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

/// Payload limits: 0, tiny, around the inflater's first output chunk (1024) and
/// zlib's window (32 KiB), and one that few messages reach.
const LIMITS: [usize; 8] = [0, 1, 100, 1023, 1024, 4096, 32768, 65537];
const MAX_RECORDS: usize = 16;
/// Round trip: the messages of one input, repeated, add up to this at most. It
/// passes the limits up to 1024 and the windows up to 11 bits; more would add
/// little, and compressing under the sanitizers is slow.
const MAX_PLAIN: usize = 2 * 1024 + 1;
const TRAILER: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];
/// How close to the end of its input `puff` may find invalid data while zlib still
/// waits for more (zlib reads a code length code of all zeros as 1-bit zeros and
/// fails only at the missing end-of-block code, up to 316 bits later).
const PUFF_MARGIN_BITS: usize = 48 * 8;

/// Heap a `receive` may add besides the limit multiples: zlib-rs's inflate state
/// and 32 KiB window (once per connection, or the thread's shared one), vectors.
const HEAP_SLACK: usize = 256 * 1024;

thread_local! {
    /// The reference stream, reset for each input (making one per input costs more
    /// than the rest of a small input).
    static REFERENCE: Cell<Option<Decompress>> = const { Cell::new(None) };
    /// Round trip: a deflater per (window bits, no context takeover), `reset` for each
    /// input, as a connection's is after a shared frame (a new one per input would
    /// allocate and clear zlib's 128 KiB hash table each time: a third of the time).
    static DEFLATERS: RefCell<[Option<Deflater>; 16]> = const { RefCell::new([const { None }; 16]) };
}

struct Config {
    limit: usize,
    no_context_takeover: bool,
    window_bits: u8,
    round_trip: bool,
}

struct Record {
    binary: bool,
    fragments: usize,
    pings: bool,
    /// Raw: RSV1 set. Round trip: compressed with `compress_standalone`.
    bit5: bool,
    /// Raw: RSV1 on the continuation frames too (a protocol error).
    rsv1_everywhere: bool,
    repeat: usize,
    close: bool,
    splits: Vec<u8>,
    data: Vec<u8>,
}

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte().unwrap_or(0)]))
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head.to_vec()
    }
}

/// See the README for the layout.
fn parse(data: &[u8]) -> Option<(Config, Vec<u16>, Vec<Record>)> {
    let mut input = Input { data };
    let config = input.byte()?;
    let config = Config {
        limit: LIMITS[usize::from(config & 7)],
        no_context_takeover: config & 8 != 0,
        round_trip: config & 16 != 0,
        window_bits: 8 + (config >> 5),
    };
    let cut_count = input.byte()? & 7;
    let cuts = (0..cut_count).filter_map(|_| input.u16()).collect();
    let mut records = Vec::new();
    while records.len() < MAX_RECORDS {
        let Some(h) = input.byte() else { break };
        let repeat = if config.round_trip && h & 64 != 0 {
            usize::from(input.byte().unwrap_or(0)) + 1
        } else {
            1
        };
        let len = usize::from(input.u16().unwrap_or(0));
        let fragments = 1 + usize::from(h >> 1 & 7);
        let splits = input.bytes(fragments - 1);
        records.push(Record {
            binary: h & 1 != 0,
            fragments,
            pings: h & 16 != 0,
            bit5: h & 32 != 0,
            rsv1_everywhere: !config.round_trip && h & 64 != 0,
            repeat,
            close: h & 128 != 0,
            splits,
            data: input.bytes(len),
        });
    }
    Some((config, cuts, records))
}

/// The offer a client with these parameters sends, and what we must agree to.
fn negotiated(config: &Config) -> Negotiated {
    let mut offer = format!(
        "permessage-deflate; client_max_window_bits={}",
        config.window_bits
    );
    if config.no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    let n = negotiate(
        options::DEDICATED_COMPRESSOR | options::DEDICATED_DECOMPRESSOR,
        &offer,
    )
    .expect("a valid offer is accepted");
    assert_eq!(n.client_max_window_bits, config.window_bits, "{offer}");
    assert_eq!(n.client_no_context_takeover, config.no_context_takeover);
    n
}

/// flate2's verdict on one message.
#[derive(PartialEq, Eq)]
enum Inflated {
    Ok(Vec<u8>),
    Corrupt,
    /// The output passed the limit. With `then_corrupt`, invalid data follows in the
    /// message: 1009 and 1007 are then both right (which one zlib reports first
    /// depends on the size of the output buffer, which the receiver grows in steps).
    TooBig {
        then_corrupt: bool,
    },
}

/// Lengths only: a failed assertion must not print a megabyte.
impl std::fmt::Debug for Inflated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inflated::Ok(data) => write!(f, "Ok({} bytes)", data.len()),
            Inflated::Corrupt => write!(f, "Corrupt"),
            Inflated::TooBig { then_corrupt } => {
                write!(f, "TooBig {{ then_corrupt: {then_corrupt} }}")
            }
        }
    }
}

/// RFC 7692 7.2.2: append `00 00 ff ff` and inflate, output bounded by `limit + 1`.
/// A stream ended by a final block resets; data after it within the message is
/// invalid (the next message would start a new stream).
fn flate2_inflate(stream: &mut Decompress, message: &[u8], limit: usize) -> Inflated {
    let mut input = message.to_vec();
    input.extend_from_slice(&TRAILER);
    let mut out = Vec::new();
    let start = stream.total_in();
    loop {
        if out.len() == out.capacity() {
            // Room up to one byte past the limit, growing (a large buffer per message
            // would cost page faults under ASan's quarantine).
            let room = limit + 1 - out.len();
            out.reserve_exact(room.min(out.len().max(4096)));
        }
        let consumed = (stream.total_in() - start) as usize;
        let before = (stream.total_in(), out.len());
        let status =
            match stream.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync) {
                Ok(status) => status,
                Err(_) if out.len() > limit => return Inflated::TooBig { then_corrupt: true },
                Err(_) => return Inflated::Corrupt,
            };
        let consumed = (stream.total_in() - start) as usize;
        if out.len() > limit {
            let then_corrupt = corrupt_later(stream, &input, consumed, message.len(), status);
            return Inflated::TooBig { then_corrupt };
        }
        if status == Status::StreamEnd {
            stream.reset(false);
            if consumed < message.len() {
                return Inflated::Corrupt;
            }
            return Inflated::Ok(out);
        }
        // All input taken, and room left: nothing more will come out.
        if consumed == input.len() && out.len() < out.capacity() {
            return Inflated::Ok(out);
        }
        if (stream.total_in(), out.len()) == before {
            // Input left and room for output, yet no progress.
            return Inflated::Corrupt;
        }
    }
}

/// Inflates the rest of a message whose output already passed the limit, output
/// discarded: whether invalid data follows.
fn corrupt_later(
    stream: &mut Decompress,
    input: &[u8],
    mut consumed: usize,
    message_len: usize,
    mut status: Status,
) -> bool {
    let mut scratch = Vec::with_capacity(32 * 1024);
    loop {
        if status == Status::StreamEnd {
            return consumed < message_len;
        }
        scratch.clear();
        let before = stream.total_in();
        status =
            match stream.decompress_vec(&input[consumed..], &mut scratch, FlushDecompress::Sync) {
                Ok(status) => status,
                Err(_) => return true,
            };
        consumed += (stream.total_in() - before) as usize;
        let output_pending = scratch.len() == scratch.capacity();
        if status != Status::StreamEnd && consumed == input.len() && !output_pending {
            return false;
        }
        if stream.total_in() == before && scratch.is_empty() {
            return true; // stuck, as in flate2_inflate
        }
    }
}

/// What `puff` says about the same message, checked against flate2's verdict.
/// Returns false once the two streams may differ (puff cannot resume mid-block),
/// after which puff is not consulted again.
fn check_with_puff(puff: &mut Puff, message: &[u8], limit: usize, zlib: &Inflated) -> bool {
    let mut input = message.to_vec();
    input.extend_from_slice(&TRAILER);
    let decoded = puff.inflate(&input, limit);
    match decoded.stop {
        Stop::Boundary => {
            assert_eq!(zlib, &Inflated::Ok(decoded.output), "puff: clean stream");
            true
        }
        Stop::Final { consumed } if consumed < message.len() => {
            assert_eq!(zlib, &Inflated::Corrupt, "puff: data after the final block");
            false
        }
        Stop::Final { .. } => {
            assert_eq!(zlib, &Inflated::Ok(decoded.output), "puff: final block");
            true
        }
        Stop::Overflow => {
            assert!(
                matches!(zlib, Inflated::TooBig { .. }),
                "puff: over the limit, {zlib:?}"
            );
            false
        }
        Stop::Incomplete => {
            // zlib waits for more (same output) or already saw an invalid code.
            if let Inflated::Ok(out) = zlib {
                assert!(
                    out == &decoded.output,
                    "puff: incomplete stream, {} vs {} bytes",
                    out.len(),
                    decoded.output.len()
                );
            } else {
                assert_eq!(zlib, &Inflated::Corrupt, "puff: incomplete stream");
            }
            false
        }
        Stop::Invalid { at_bit } => {
            if at_bit + PUFF_MARGIN_BITS <= input.len() * 8 {
                assert_eq!(zlib, &Inflated::Corrupt, "puff: invalid at bit {at_bit}");
            }
            false
        }
    }
}

struct Frame {
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    payload: Vec<u8>,
}

fn encode(stream: &mut Vec<u8>, frame: &Frame, key: [u8; 4]) {
    let mut header = [0u8; MAX_HEADER_LEN];
    let n = encode_header(
        &mut header,
        frame.fin,
        frame.rsv1,
        frame.opcode,
        frame.payload.len(),
        Some(key),
    );
    stream.extend_from_slice(&header[..n]);
    stream.extend(
        frame
            .payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4]),
    );
}

/// `payload` cut at the split fractions.
fn fragments(payload: &[u8], count: usize, splits: &[u8]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = splits
        .iter()
        .map(|&s| usize::from(s) * payload.len() / 255)
        .collect();
    cuts.resize(count - 1, payload.len());
    cuts.sort_unstable();
    let mut pieces = Vec::with_capacity(count);
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(payload.len())) {
        pieces.push(payload[start..cut].to_vec());
        start = cut;
    }
    pieces
}

/// What the receiver must report: the events, and how the stream ends (or the
/// other close code that is just as right).
struct Expected {
    events: Vec<Event>,
    end: End,
    or_end: Option<End>,
}

/// Builds the stream and what the receiver must report.
fn build(config: &Config, negotiated: &Negotiated, records: &[Record]) -> (Vec<u8>, Expected) {
    let limit = config.limit;
    let slot = usize::from(negotiated.client_max_window_bits - 8) * 2
        + usize::from(config.no_context_takeover);
    let mut deflater = DEFLATERS
        .with_borrow_mut(|d| d[slot].take())
        .unwrap_or_else(|| {
            Deflater::new(
                negotiated.client_max_window_bits,
                config.no_context_takeover,
            )
        });
    deflater.reset();
    let mut zlib = REFERENCE.take().unwrap_or_else(|| Decompress::new(false));
    zlib.reset(false);
    let mut puff = Puff::new();
    let mut puff_in_sync = true;
    let mut stream = Vec::new();
    let mut events = Vec::new();
    let mut end = End::Open;
    let mut or_end = None;
    let mut plain_budget = MAX_PLAIN;
    for (index, record) in records.iter().enumerate() {
        let key = [0x37, 0xfa, 0x21, index as u8];
        let mut binary = record.binary;
        let (payload, compressed, plain) = if config.round_trip {
            let mut plain = record.data.repeat(record.repeat);
            plain.truncate(plain_budget);
            plain_budget -= plain.len();
            let mut out = Vec::new();
            if record.bit5 {
                compress_standalone(&plain, negotiated.client_max_window_bits, &mut out);
                deflater.reset();
            } else {
                deflater.compress(&plain, &mut out);
            }
            (out, true, Some(plain))
        } else {
            if !record.bit5 && !binary && std::str::from_utf8(&record.data).is_err() {
                // Uncompressed text is receiver_utf8's business: keep it valid here.
                binary = true;
            }
            (record.data.clone(), record.bit5, None)
        };

        // The frames, and what the receiver reports before the message.
        let pieces = fragments(&payload, record.fragments, &record.splits);
        let mut total = 0;
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 && record.pings {
                let ping = Frame {
                    opcode: OpCode::Ping,
                    fin: true,
                    rsv1: false,
                    payload: vec![i as u8],
                };
                encode(&mut stream, &ping, key);
            }
            let frame = Frame {
                opcode: match (i, binary) {
                    (0, true) => OpCode::Binary,
                    (0, false) => OpCode::Text,
                    _ => OpCode::Continuation,
                },
                fin: i + 1 == pieces.len(),
                rsv1: (i == 0 && compressed) || (i > 0 && record.rsv1_everywhere),
                payload: piece.clone(),
            };
            encode(&mut stream, &frame, key);
            if end != End::Open {
                continue;
            }
            if i > 0 && record.pings {
                events.push(Event::Ping(vec![i as u8]));
            }
            if i > 0 && record.rsv1_everywhere {
                end = End::Failed(1002);
                continue;
            }
            total += piece.len();
            if total > limit {
                end = End::Failed(1009);
            }
        }
        if end != End::Open {
            break;
        }

        // The message itself.
        if !compressed {
            events.push(Event::Message {
                binary,
                data: payload,
            });
        } else {
            if config.no_context_takeover {
                zlib.reset(false);
                puff.reset();
            }
            let inflated = flate2_inflate(&mut zlib, &payload, limit);
            if let Some(plain) = &plain {
                // Our deflater, read back by zlib.
                if plain.len() <= limit {
                    assert_eq!(
                        inflated,
                        Inflated::Ok(plain.clone()),
                        "flate2 reads our deflater"
                    );
                } else {
                    assert_eq!(
                        inflated,
                        Inflated::TooBig {
                            then_corrupt: false
                        }
                    );
                }
                // Independent decoder, unbounded, and the agreed window.
                let mut input = payload.clone();
                input.extend_from_slice(&TRAILER);
                let decoded = puff.inflate(&input, usize::MAX);
                assert_eq!(
                    decoded.stop,
                    Stop::Boundary,
                    "our deflater ends with a sync flush"
                );
                assert!(&decoded.output == plain, "puff reads our deflater");
                assert!(
                    decoded.max_distance <= 1 << negotiated.client_max_window_bits,
                    "distance {} with a {}-bit window",
                    decoded.max_distance,
                    negotiated.client_max_window_bits
                );
            } else if puff_in_sync {
                puff_in_sync = check_with_puff(&mut puff, &payload, limit, &inflated);
            }
            match inflated {
                Inflated::Ok(data) if binary || std::str::from_utf8(&data).is_ok() => {
                    events.push(Event::Message { binary, data });
                }
                Inflated::Ok(_) | Inflated::Corrupt => end = End::Failed(1007),
                Inflated::TooBig { then_corrupt } => {
                    end = End::Failed(1009);
                    or_end = then_corrupt.then_some(End::Failed(1007));
                }
            }
            if end != End::Open {
                break;
            }
        }

        if record.close {
            let mut payload = [0u8; 125];
            let n = encode_close_payload(1000, b"done", &mut payload);
            let close = Frame {
                opcode: OpCode::Close,
                fin: true,
                rsv1: false,
                payload: payload[..n].to_vec(),
            };
            encode(&mut stream, &close, key);
            events.push(Event::Close {
                code: Some(1000),
                reason: b"done".to_vec(),
            });
            end = End::Closed;
            break;
        }
    }
    REFERENCE.set(Some(zlib));
    DEFLATERS.with_borrow_mut(|d| d[slot] = Some(deflater));
    let expected = Expected {
        events,
        end,
        or_end,
    };
    (stream, expected)
}

fuzz_target!(|data: &[u8]| {
    let Some((config, raw_cuts, records)) = parse(data) else {
        return;
    };
    let negotiated = negotiated(&config);
    let (mut stream, expected) = build(&config, &negotiated, &records);

    let mut receiver = Receiver::new(Role::Server, config.limit);
    receiver.set_inflater(Some(negotiated.inflater()));
    let mut recorder = Recorder::default();
    let cuts = cut_points(&raw_cuts, stream.len());
    let error = feed_bounded(
        &mut receiver,
        &mut recorder,
        &mut stream,
        &cuts,
        config.limit + 125.max(MAX_HEADER_LEN),
        Some(5 * config.limit + HEAP_SLACK),
    );
    for event in &recorder.events {
        if let Event::Message { data, .. } = event {
            assert!(data.len() <= config.limit, "message over the limit");
        }
    }
    assert_eq!(recorder.events, expected.events, "cuts {cuts:?}");
    let got = match error {
        Some(code) => End::Failed(code),
        None if receiver.is_closed() => End::Closed,
        None => End::Open,
    };
    if Some(got) != expected.or_end {
        assert_eq!(got, expected.end, "cuts {cuts:?}");
    }
});
