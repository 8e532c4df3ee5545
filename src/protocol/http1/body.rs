//! Request body framing (RFC 9112 sections 6 and 7.1): a fixed length or a
//! chunked stream, decoded from whatever splits the reads produce. The
//! decoder holds counters only; body bytes are handed back as ranges of the
//! caller's input.

use std::ops::Range;

use super::{is_field_content, is_tchar, HttpError};

/// Longest chunk-size line: size, BWS and extensions, counting its CR.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Most bytes of trailer field lines (with their CRLFs) after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding (or length 0).
    #[default]
    Empty,
    /// Exactly this many bytes (never 0).
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
}

/// What one `decode` call did with its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOut {
    /// Body bytes, as a range of the input (possibly empty).
    pub body: Range<usize>,
    /// Input bytes used (body and framing); the rest is not this body's.
    pub consumed: usize,
    /// The body is complete; input after `consumed` is the next request.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length {
        remaining: u64,
    },
    /// In the hex digits of a chunk size.
    Size {
        size: u64,
        digits: bool,
        line: usize,
    },
    /// Whitespace after the size: only an extension may follow.
    SizeSpace {
        size: u64,
        line: usize,
    },
    /// Inside chunk extensions, up to CR.
    Extension {
        size: u64,
        line: usize,
    },
    /// CR of the size line seen.
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart {
        bytes: usize,
    },
    TrailerName {
        bytes: usize,
    },
    TrailerValue {
        bytes: usize,
    },
    TrailerLf {
        bytes: usize,
    },
    FinalLf,
    Done,
}

/// Streams one body out of the bytes following a request head.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    max_body: u64,
    /// Body bytes announced so far (chunk sizes summed).
    announced: u64,
}

const fn bad(reason: &'static str) -> HttpError {
    HttpError::new(400, reason)
}

impl BodyDecoder {
    /// A decoder without a size limit.
    pub fn new(framing: BodyFraming) -> Self {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(remaining) => State::Length { remaining },
            BodyFraming::Chunked => State::Size {
                size: 0,
                digits: false,
                line: 0,
            },
        };
        BodyDecoder {
            state,
            max_body: u64::MAX,
            announced: 0,
        }
    }

    /// A decoder refusing bodies over `max_body` bytes with 413: at once for a
    /// Content-Length, at the first chunk size crossing it for chunked bodies.
    pub fn with_limit(framing: BodyFraming, max_body: u64) -> Result<Self, HttpError> {
        if matches!(framing, BodyFraming::Length(length) if length > max_body) {
            return Err(HttpError::new(413, "Body too large"));
        }
        let mut decoder = BodyDecoder::new(framing);
        decoder.max_body = max_body;
        Ok(decoder)
    }

    /// The whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`. Returns at most one body range per
    /// call; call again with `input[consumed..]` (plus newer bytes) until
    /// `done`. Every input byte is consumed unless the body ends first, so
    /// an empty `consumed` means empty input or an already finished body.
    pub fn decode(&mut self, input: &[u8]) -> Result<DecodeOut, HttpError> {
        let mut i = 0;
        loop {
            let idle = |at: usize, done: bool| DecodeOut {
                body: at..at,
                consumed: at,
                done,
            };
            match self.state {
                State::Done => return Ok(idle(i, true)),
                State::Length { remaining } => {
                    let take = remaining.min(input.len() as u64);
                    let remaining = remaining - take;
                    self.state = if remaining == 0 {
                        State::Done
                    } else {
                        State::Length { remaining }
                    };
                    let take = take as usize;
                    return Ok(DecodeOut {
                        body: 0..take,
                        consumed: take,
                        done: remaining == 0,
                    });
                }
                State::Data { remaining } => {
                    if i == input.len() {
                        return Ok(idle(i, false));
                    }
                    let take = remaining.min((input.len() - i) as u64);
                    let remaining = remaining - take;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                    let end = i + take as usize;
                    return Ok(DecodeOut {
                        body: i..end,
                        consumed: end,
                        done: false,
                    });
                }
                _ => {
                    let Some(&byte) = input.get(i) else {
                        return Ok(idle(i, false));
                    };
                    i += 1;
                    self.state = self.step(byte)?;
                }
            }
        }
    }

    /// One byte of chunked framing or trailers.
    fn step(&mut self, byte: u8) -> Result<State, HttpError> {
        let next = match self.state {
            State::Size { size, digits, line } => {
                let line = bounded_line(line)?;
                if let Some(value) = hex_value(byte) {
                    if size > u64::MAX >> 4 {
                        return Err(bad("Chunk size too large"));
                    }
                    State::Size {
                        size: size << 4 | value,
                        digits: true,
                        line,
                    }
                } else if !digits {
                    return Err(bad("Invalid chunk size"));
                } else {
                    match byte {
                        b'\r' => self.size_line_done(size)?,
                        b';' => State::Extension { size, line },
                        b' ' | b'\t' => State::SizeSpace { size, line },
                        _ => return Err(bad("Invalid chunk size")),
                    }
                }
            }
            State::SizeSpace { size, line } => {
                let line = bounded_line(line)?;
                match byte {
                    b' ' | b'\t' => State::SizeSpace { size, line },
                    b';' => State::Extension { size, line },
                    _ => return Err(bad("Invalid chunk size")),
                }
            }
            State::Extension { size, line } => {
                let line = bounded_line(line)?;
                match byte {
                    b'\r' => self.size_line_done(size)?,
                    byte if is_field_content(byte) => State::Extension { size, line },
                    _ => return Err(bad("Invalid chunk extension")),
                }
            }
            State::SizeLf { size } => match byte {
                b'\n' if size == 0 => State::TrailerStart { bytes: 0 },
                b'\n' => State::Data { remaining: size },
                _ => return Err(bad("Chunk size line must end with CRLF")),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(bad("Chunk data must end with CRLF")),
            },
            State::DataLf => match byte {
                b'\n' => State::Size {
                    size: 0,
                    digits: false,
                    line: 0,
                },
                _ => return Err(bad("Chunk data must end with CRLF")),
            },
            State::TrailerStart { bytes } => match byte {
                b'\r' => State::FinalLf,
                byte if is_tchar(byte) => State::TrailerName {
                    bytes: bounded_trailers(bytes)?,
                },
                _ => return Err(bad("Invalid trailer field")),
            },
            State::TrailerName { bytes } => {
                let bytes = bounded_trailers(bytes)?;
                match byte {
                    b':' => State::TrailerValue { bytes },
                    byte if is_tchar(byte) => State::TrailerName { bytes },
                    _ => return Err(bad("Invalid trailer field")),
                }
            }
            State::TrailerValue { bytes } => {
                let bytes = bounded_trailers(bytes)?;
                match byte {
                    b'\r' => State::TrailerLf { bytes },
                    byte if is_field_content(byte) => State::TrailerValue { bytes },
                    _ => return Err(bad("Invalid trailer field")),
                }
            }
            State::TrailerLf { bytes } => match byte {
                b'\n' => State::TrailerStart {
                    bytes: bounded_trailers(bytes)?,
                },
                _ => return Err(bad("Trailer line must end with CRLF")),
            },
            State::FinalLf => match byte {
                b'\n' => State::Done,
                _ => return Err(bad("Chunked body must end with CRLF")),
            },
            State::Length { .. } | State::Data { .. } | State::Done => self.state,
        };
        Ok(next)
    }

    /// The size line ended (its CR seen): account for the chunk's bytes.
    fn size_line_done(&mut self, size: u64) -> Result<State, HttpError> {
        match self.announced.checked_add(size) {
            Some(total) if total <= self.max_body => self.announced = total,
            _ => return Err(HttpError::new(413, "Body too large")),
        }
        Ok(State::SizeLf { size })
    }
}

fn hex_value(byte: u8) -> Option<u64> {
    (byte as char).to_digit(16).map(u64::from)
}

fn bounded_line(line: usize) -> Result<usize, HttpError> {
    if line >= MAX_CHUNK_LINE {
        return Err(bad("Chunk size line too long"));
    }
    Ok(line + 1)
}

fn bounded_trailers(bytes: usize) -> Result<usize, HttpError> {
    if bytes >= MAX_TRAILER_BYTES {
        return Err(HttpError::new(431, "Trailers too large"));
    }
    Ok(bytes + 1)
}

#[cfg(test)]
mod tests;
