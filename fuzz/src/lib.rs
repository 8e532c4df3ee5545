//! Helpers shared by the fuzz targets: a Handler that records what the receiver
//! reports, split-point feeding, a reference model of the receiving rules, a
//! counting allocator ([`heap`]) and an independent deflate decoder ([`puff`]).

pub mod heap;
pub mod puff;

use rsws::protocol::close::is_valid_close_code;
use rsws::protocol::{CloseError, Handler, Payload, Receiver};

/// One callback of `Handler`, with owned data.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    Message { binary: bool, data: Vec<u8> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close { code: Option<u16>, reason: Vec<u8> },
}

/// Long payloads shortened, so a failed comparison stays readable.
struct Bytes<'a>(&'a [u8]);

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 64;
        if self.0.len() <= SHOWN {
            write!(f, "{:x?}", self.0)
        } else {
            write!(f, "{} bytes {:x?}..", self.0.len(), &self.0[..SHOWN])
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Message { binary, data } => f
                .debug_struct("Message")
                .field("binary", binary)
                .field("data", &Bytes(data))
                .finish(),
            Event::Ping(data) => f.debug_tuple("Ping").field(&Bytes(data)).finish(),
            Event::Pong(data) => f.debug_tuple("Pong").field(&Bytes(data)).finish(),
            Event::Close { code, reason } => f
                .debug_struct("Close")
                .field("code", code)
                .field("reason", &Bytes(reason))
                .finish(),
        }
    }
}

/// Records events and checks what the Handler contract promises on each call.
#[derive(Default, Debug)]
pub struct Recorder {
    pub events: Vec<Event>,
    /// Text messages are checked with std's validator unless this is set (RSV1
    /// messages are delivered still compressed, so they need not be UTF-8).
    pub compressed_text_possible: bool,
}

impl Handler for Recorder {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        let data = payload.into_vec();
        if !binary && !self.compressed_text_possible {
            assert!(
                std::str::from_utf8(&data).is_ok(),
                "text message delivered with invalid UTF-8: {data:x?}"
            );
        }
        assert!(
            !matches!(self.events.last(), Some(Event::Close { .. })),
            "event after close"
        );
        self.events.push(Event::Message { binary, data });
    }

    fn ping(&mut self, payload: &[u8]) {
        assert!(payload.len() <= 125, "ping of {} bytes", payload.len());
        self.events.push(Event::Ping(payload.to_vec()));
    }

    fn pong(&mut self, payload: &[u8]) {
        assert!(payload.len() <= 125, "pong of {} bytes", payload.len());
        self.events.push(Event::Pong(payload.to_vec()));
    }

    fn close(&mut self, code: Option<u16>, reason: &[u8]) {
        if let Some(code) = code {
            assert!(is_valid_close_code(code), "close event with code {code}");
        } else {
            assert!(reason.is_empty(), "reason without a code");
        }
        assert!(
            reason.len() <= 123,
            "close reason of {} bytes",
            reason.len()
        );
        assert!(
            std::str::from_utf8(reason).is_ok(),
            "close reason not UTF-8: {reason:x?}"
        );
        assert!(
            !matches!(self.events.last(), Some(Event::Close { .. })),
            "two close events"
        );
        self.events.push(Event::Close {
            code,
            reason: reason.to_vec(),
        });
    }
}

/// The codes a receiver may fail a connection with.
pub fn check_close_error(error: &CloseError) {
    assert!(
        matches!(error.code, 1002 | 1007 | 1009),
        "unexpected close code {error:?}"
    );
    assert!(is_valid_close_code(error.code), "{error:?}");
    // The reason goes into a close frame next to the 2-byte code.
    assert!(error.reason.len() <= 123, "{error:?}");
}

/// Turns raw split values into sorted cut positions within `0..=len`.
pub fn cut_points(raw: &[u16], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|&r| r as usize % (len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// Outcome of feeding a stream: the events and the first error (later calls
/// after an error or a close must be no-ops returning Ok).
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub error: Option<u16>,
}

/// Feeds `stream` (modified in place) in pieces cut at `cuts`, checking after
/// every call that the receiver holds no more than `bound` bytes.
pub fn feed(
    receiver: &mut Receiver,
    recorder: &mut Recorder,
    stream: &mut [u8],
    cuts: &[usize],
    bound: usize,
) -> Option<u16> {
    feed_bounded(receiver, recorder, stream, cuts, bound, None)
}

/// [`feed`], also checking (when the target installed [`heap::Counting`]) that
/// the heap grows by at most `heap_bound` plus the piece's length during each
/// `receive` call (the recorder copies a borrowed message out of the piece).
pub fn feed_bounded(
    receiver: &mut Receiver,
    recorder: &mut Recorder,
    stream: &mut [u8],
    cuts: &[usize],
    bound: usize,
    heap_bound: Option<usize>,
) -> Option<u16> {
    let mut error = None;
    let mut rest = stream;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&usize::MAX)) {
        let end = end.min(start + rest.len());
        let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(end - start);
        rest = tail;
        start = end;
        let before = recorder.events.len();
        let finished = error.is_some() || receiver.is_closed();
        let chunk_len = chunk.len();
        let heap_start = heap::start();
        let result = receiver.receive(chunk, recorder);
        if let (Some(limit), Some(growth)) = (heap_bound, heap::peak_growth(heap_start)) {
            assert!(
                growth <= limit + chunk_len,
                "heap grew by {growth} bytes in one receive of {chunk_len} bytes (bound {limit} + that)"
            );
        }
        match result {
            Ok(()) => {}
            Err(e) => {
                assert!(!finished, "error after the receiver was done: {e:?}");
                check_close_error(&e);
                error = Some(e.code);
                assert_eq!(receiver.buffered_len(), 0, "buffers kept after an error");
            }
        }
        if finished {
            assert_eq!(recorder.events.len(), before, "events after the end");
        }
        if receiver.is_closed() {
            assert_eq!(receiver.buffered_len(), 0, "buffers kept after a close");
        }
        assert!(
            receiver.buffered_len() <= bound,
            "receiver holds {} bytes, bound {bound}",
            receiver.buffered_len()
        );
    }
    error
}

/// Where the reference model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// All frames processed without a close.
    Open,
    /// A valid close frame arrived.
    Closed,
    /// The connection fails with this code.
    Failed(u16),
}

/// A frame as put on the wire by the structured targets.
#[derive(Clone, Debug)]
pub struct WireFrame {
    pub fin: bool,
    /// RSV1..RSV3 in bits 2..0.
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

/// Whether `bytes` could still become valid UTF-8 (std's check; an error at
/// the very end with no `error_len` means "incomplete", not "invalid").
fn valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// A plain reimplementation of the server-side receiving rules (RFC 6455 5.x
/// and 8.1 with fail-fast UTF-8, the codes of close.rs), written for clarity
/// rather than speed, with whole-message `std::str::from_utf8`.
pub fn reference(frames: &[WireFrame], max_payload: usize) -> (Vec<Event>, End) {
    let mut events = Vec::new();
    // (binary, bytes so far) of the fragmented message in progress.
    let mut message: Option<(bool, Vec<u8>)> = None;
    for frame in frames {
        let opcode = frame.opcode;
        let control = opcode >= 8;
        if !matches!(opcode, 0..=2 | 8..=10) {
            return (events, End::Failed(1002));
        }
        if frame.rsv != 0 {
            return (events, End::Failed(1002));
        }
        if frame.mask.is_none() {
            return (events, End::Failed(1002));
        }
        if control {
            if !frame.fin || frame.payload.len() > 125 {
                return (events, End::Failed(1002));
            }
        } else {
            match (opcode, &message) {
                (0, None) => return (events, End::Failed(1002)),
                (1 | 2, Some(_)) => return (events, End::Failed(1002)),
                _ => {}
            }
            let so_far = message.as_ref().map_or(0, |(_, bytes)| bytes.len());
            if so_far + frame.payload.len() > max_payload {
                return (events, End::Failed(1009));
            }
        }
        match opcode {
            1 | 2 => message = Some((opcode == 2, Vec::new())),
            8 => {
                let payload = &frame.payload;
                let code = match payload.len() {
                    0 => None,
                    1 => return (events, End::Failed(1002)),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
                            return (events, End::Failed(1002));
                        }
                        if std::str::from_utf8(&payload[2..]).is_err() {
                            return (events, End::Failed(1007));
                        }
                        Some(code)
                    }
                };
                let reason = payload.get(2..).unwrap_or_default().to_vec();
                events.push(Event::Close { code, reason });
                return (events, End::Closed);
            }
            9 => {
                events.push(Event::Ping(frame.payload.clone()));
                continue;
            }
            10 => {
                events.push(Event::Pong(frame.payload.clone()));
                continue;
            }
            _ => {}
        }
        let (binary, bytes) = message.as_mut().expect("data frame with a message");
        bytes.extend_from_slice(&frame.payload);
        if !*binary {
            let ok = if frame.fin {
                std::str::from_utf8(bytes).is_ok()
            } else {
                valid_prefix(bytes)
            };
            if !ok {
                return (events, End::Failed(1007));
            }
        }
        if frame.fin {
            let (binary, data) = message.take().unwrap();
            events.push(Event::Message { binary, data });
        }
    }
    (events, End::Open)
}
