//! The server Receiver's text handling, two ways (chosen by the first input byte):
//!
//! * raw: arbitrary bytes cut at arbitrary points (the cut positions come from the
//!   start of the input). Every delivered text message is valid UTF-8 by
//!   `std::str::from_utf8`, every close code is one close.rs allows, and the events
//!   and the result are the same as when the bytes arrive in one read.
//! * structured: `arbitrary` builds frames (opcode, FIN, RSV, payload, mask) and
//!   whole messages fragmented at arbitrary byte positions (so code points are cut
//!   across frames), with control frames in between. The stream, cut at arbitrary
//!   points, must give exactly the events and the accept / close code (1002, 1007,
//!   1009) of a plain reference model that validates whole messages with
//!   `std::str::from_utf8`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rsws::protocol::{encode_frame, OpCode, Receiver, Role, MAX_HEADER_LEN};
use rsws_fuzz::{cut_points, feed, reference, End, Outcome, Recorder, WireFrame};

/// Limits small enough to be hit, and one that never is.
const MAX_PAYLOADS: [usize; 8] = [0, 1, 3, 125, 126, 1000, 65536, 1 << 30];

/// What the receiver may hold: a message up to the limit, plus a control
/// frame's payload arriving in the middle of it, or a partial header.
fn bound(max_payload: usize) -> usize {
    max_payload + 125.max(MAX_HEADER_LEN)
}

fn run(stream: &[u8], cuts: &[usize], max_payload: usize) -> Outcome {
    let mut receiver = Receiver::new(Role::Server, max_payload);
    let mut recorder = Recorder::default();
    let mut stream = stream.to_vec();
    let error = feed(
        &mut receiver,
        &mut recorder,
        &mut stream,
        cuts,
        bound(max_payload),
    );
    Outcome {
        events: recorder.events,
        error,
    }
}

fn raw(mut u: Unstructured) -> arbitrary::Result<()> {
    let max_payload = MAX_PAYLOADS[u.choose_index(MAX_PAYLOADS.len())?];
    let raw_cuts: Vec<u16> = (0..u.int_in_range(0..=6)?)
        .map(|_| u.arbitrary())
        .collect::<arbitrary::Result<_>>()?;
    let stream = u.take_rest();
    let cuts = cut_points(&raw_cuts, stream.len());
    let split = run(stream, &cuts, max_payload);
    let whole = run(stream, &[], max_payload);
    assert_eq!(split, whole, "cut at {cuts:?}");
    Ok(())
}

#[derive(Arbitrary, Debug)]
enum Body {
    Text(String),
    Bytes(Vec<u8>),
    /// Text with one byte replaced.
    Damaged(String, u16, u8),
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Text(s) => s.as_bytes().to_vec(),
            Body::Bytes(b) => b.clone(),
            Body::Damaged(s, at, byte) => {
                let mut b = s.as_bytes().to_vec();
                if !b.is_empty() {
                    let i = *at as usize % b.len();
                    b[i] = *byte;
                }
                b
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Item {
    /// Any frame; the opcode's low nibble is used as is (reserved ones too).
    Frame {
        opcode: u8,
        fin: bool,
        rsv: u8,
        masked: bool,
        key: [u8; 4],
        body: Body,
    },
    /// A well-formed message, fragmented at `cuts`, with control frames after
    /// the fragments their index names.
    Message {
        binary: bool,
        body: Body,
        cuts: Vec<u16>,
        controls: Vec<(u8, u8, Body)>,
        key: [u8; 4],
    },
    /// A close frame with a code and a reason.
    Close {
        code: u16,
        reason: Body,
        key: [u8; 4],
    },
}

#[derive(Arbitrary, Debug)]
struct Structured {
    max_payload: u8,
    items: Vec<Item>,
    cuts: Vec<u16>,
}

fn push_frames(item: &Item, frames: &mut Vec<WireFrame>) {
    match item {
        Item::Frame {
            opcode,
            fin,
            rsv,
            masked,
            key,
            body,
        } => frames.push(WireFrame {
            fin: *fin,
            rsv: rsv & 7,
            opcode: opcode & 0x0F,
            mask: masked.then_some(*key),
            payload: body.bytes(),
        }),
        Item::Message {
            binary,
            body,
            cuts,
            controls,
            key,
        } => {
            let bytes = body.bytes();
            let cuts = cut_points(cuts, bytes.len());
            let ends = cuts.iter().copied().chain(std::iter::once(bytes.len()));
            let mut start = 0;
            let count = cuts.len() + 1;
            for (index, end) in ends.enumerate() {
                let opcode = match (index, binary) {
                    (0, false) => 1,
                    (0, true) => 2,
                    _ => 0,
                };
                frames.push(WireFrame {
                    fin: index + 1 == count,
                    rsv: 0,
                    opcode,
                    mask: Some(*key),
                    payload: bytes[start..end].to_vec(),
                });
                start = end;
                for (after, opcode, body) in controls {
                    if *after as usize % count == index && index + 1 < count {
                        frames.push(WireFrame {
                            fin: true,
                            rsv: 0,
                            opcode: [8, 9, 10][*opcode as usize % 3],
                            mask: Some(*key),
                            payload: body.bytes(),
                        });
                    }
                }
            }
        }
        Item::Close { code, reason, key } => {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend(reason.bytes());
            frames.push(WireFrame {
                fin: true,
                rsv: 0,
                opcode: 8,
                mask: Some(*key),
                payload,
            });
        }
    }
}

fn encode(frame: &WireFrame, out: &mut Vec<u8>) {
    let start = out.len();
    // encode_frame takes a known opcode and no RSV bits: patch the first byte.
    let opcode = OpCode::from_u8(frame.opcode).unwrap_or(OpCode::Binary);
    encode_frame(out, opcode, frame.fin, &frame.payload, frame.mask);
    out[start] = (out[start] & 0x80) | frame.rsv << 4 | frame.opcode;
}

fn structured(u: Unstructured) -> arbitrary::Result<()> {
    let input = Structured::arbitrary_take_rest(u)?;
    let max_payload = MAX_PAYLOADS[input.max_payload as usize % MAX_PAYLOADS.len()];
    let mut frames = Vec::new();
    for item in &input.items {
        push_frames(item, &mut frames);
    }
    let mut stream = Vec::new();
    for frame in &frames {
        encode(frame, &mut stream);
    }
    let cuts = cut_points(&input.cuts, stream.len());
    let actual = run(&stream, &cuts, max_payload);
    let (events, end) = reference(&frames, max_payload);
    let expected = Outcome {
        events,
        error: match end {
            End::Failed(code) => Some(code),
            End::Open | End::Closed => None,
        },
    };
    assert_eq!(actual, expected, "frames {frames:?} cut at {cuts:?}");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(false) => raw(u),
        Ok(true) => structured(u),
        Err(_) => Ok(()),
    };
});
