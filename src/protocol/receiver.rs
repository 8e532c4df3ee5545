//! Incoming frame parsing and message assembly (sans I/O).
//!
//! Complete frames found in the caller's read buffer are unmasked and
//! delivered in place; only an incomplete trailing frame is copied into the
//! receiver. Every protocol violation maps to the close code the RFC (and
//! Autobahn) expects.
//!
//! With permessage-deflate ([`Receiver::set_inflater`]), a message whose
//! first frame has RSV1 set is assembled compressed (the compressed size
//! bounded by the limit like any message), then inflated with the limit
//! applied to the decompressed size, validated if it is text, and delivered
//! owned. Uncompressed messages take the same path as without it.

use super::close::{is_valid_close_code, INVALID_PAYLOAD, PROTOCOL_ERROR, TOO_BIG};
use super::deflate::{InflateError, Inflater};
use super::frame::{parse_header, FrameHeader, OpCode, MAX_HEADER_LEN};
use super::mask::{apply_mask, apply_mask_offset};
use super::utf8::Utf8Validator;
use std::mem::MaybeUninit;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// A message body: borrowed from the caller's buffer when it arrived as one
/// complete frame, owned when it had to be assembled, so the caller can keep
/// it without copying.
#[derive(Debug)]
pub enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(slice) => slice,
            Payload::Owned(vec) => vec,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Payload::Borrowed(slice) => slice.to_vec(),
            Payload::Owned(vec) => vec,
        }
    }
}

pub trait Handler {
    /// A complete message; a compressed one arrives decompressed (and owned).
    fn message(&mut self, binary: bool, payload: Payload<'_>);
    fn ping(&mut self, payload: &[u8]);
    fn pong(&mut self, payload: &[u8]);
    /// A valid close frame arrived (code None when the payload was empty); reason is valid UTF-8.
    fn close(&mut self, code: Option<u16>, reason: &[u8]);
}

/// Why the connection must be failed: the close code and reason to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseError {
    pub code: u16,
    pub reason: &'static str,
}

fn protocol_error(reason: &'static str) -> CloseError {
    CloseError {
        code: PROTOCOL_ERROR,
        reason,
    }
}

const INVALID_UTF8: CloseError = CloseError {
    code: INVALID_PAYLOAD,
    reason: "invalid UTF-8",
};

const MESSAGE_TOO_BIG: CloseError = CloseError {
    code: TOO_BIG,
    reason: "message too big",
};

/// RFC 7692 only says to fail the connection. Like bad UTF-8, this is data
/// inconsistent with what the message claims to be, hence 1007 rather
/// than 1002 (the framing itself was fine).
const INVALID_COMPRESSED_DATA: CloseError = CloseError {
    code: INVALID_PAYLOAD,
    reason: "invalid compressed data",
};

/// Announced payloads up to this size are allocated up front; beyond it the
/// buffer grows geometrically, so a peer cannot make us reserve a huge block
/// (when the limit is unlimited) before sending the data.
const MAX_UP_FRONT_RESERVE: usize = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame was received.
    Closed,
    /// A protocol violation was reported.
    Failed,
}

/// The fragmented message in progress.
#[derive(Clone, Copy, Debug)]
struct Message {
    binary: bool,
    /// RSV1 was set on the first frame: inflate once assembled.
    compressed: bool,
}

/// A header that passed validation, reduced to what delivery needs.
#[derive(Clone, Copy, Debug)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    compressed: bool,
    /// The payload is (part of) uncompressed text and must be valid UTF-8.
    text: bool,
    mask: Option<[u8; 4]>,
    payload_len: usize,
}

pub struct Receiver {
    role: Role,
    state: State,
    /// Present when permessage-deflate was negotiated; RSV1 is refused without it.
    inflater: Option<Inflater>,
    utf8: Utf8Validator,
    max_payload_length: usize,
    /// What is kept between reads while a frame or a fragmented message is incomplete;
    /// None (nothing allocated) between messages, so an idle connection holds no buffer.
    partial: Option<Box<Partial>>,
}

#[derive(Default)]
struct Partial {
    message: Option<Message>,
    /// Start of a header cut at the end of a read.
    header_buf: [u8; MAX_HEADER_LEN],
    header_len: u8,
    /// Header of the frame whose payload is arriving in `frame_payload`.
    buffered_frame: Option<Frame>,
    /// Unmasked payload of a frame that is split across reads.
    frame_payload: Vec<u8>,
    /// Payload of the fragmented message so far.
    fragments: Vec<u8>,
}

impl Partial {
    fn is_idle(&self) -> bool {
        self.message.is_none()
            && self.header_len == 0
            && self.buffered_frame.is_none()
            && self.frame_payload.is_empty()
            && self.fragments.is_empty()
    }
}

impl Receiver {
    pub fn new(role: Role, max_payload_length: usize) -> Self {
        Receiver {
            role,
            state: State::Open,
            inflater: None,
            utf8: Utf8Validator::default(),
            max_payload_length,
            partial: None,
        }
    }

    pub fn set_max_payload_length(&mut self, n: usize) {
        self.max_payload_length = n;
    }

    /// Enables permessage-deflate (`Negotiated::inflater`): RSV1 is then
    /// accepted on the first frame of a data message, and such messages are
    /// delivered decompressed. None disables it again.
    pub fn set_inflater(&mut self, inflater: Option<Inflater>) {
        self.inflater = inflater;
    }

    /// A close frame was received.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes held for an incomplete frame plus the fragments so far.
    pub fn buffered_len(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| {
            p.header_len as usize + p.frame_payload.len() + p.fragments.len()
        })
    }

    /// The state kept between reads, created when first needed.
    fn partial(&mut self) -> &mut Partial {
        self.partial.get_or_insert_with(Box::default)
    }

    /// The fragmented message in progress, if any.
    fn message(&self) -> Option<Message> {
        self.partial.as_ref().and_then(|p| p.message)
    }

    /// Feeds bytes read from the peer. `input` may be unmasked/modified in place (it's a scratch buffer).
    /// Returns Err at the first protocol violation; after Err or after a close frame, further input is ignored.
    pub fn receive(
        &mut self,
        input: &mut [u8],
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        if self.state != State::Open {
            return Ok(());
        }
        let result = self.receive_frames(input, handler);
        self.settle(result)
    }

    /// Room to read the rest of a large frame's payload into, so that it skips the
    /// caller's read buffer and the copy out of it: Some while a data frame's payload is
    /// incomplete with at least `min` bytes (and at least 1) missing. Never longer than
    /// what is missing, so a read into it cannot take bytes of the next frame. Report
    /// what was read into it with [`Receiver::receive_direct`].
    pub fn direct_target(&mut self, min: usize) -> Option<&mut [MaybeUninit<u8>]> {
        if self.state != State::Open {
            return None;
        }
        let p = self.partial.as_mut()?;
        let frame = p.buffered_frame?;
        let missing = frame.payload_len - p.frame_payload.len();
        if missing == 0 || missing < min || frame.opcode.is_control() {
            return None;
        }
        let have = p.frame_payload.len();
        if p.frame_payload.capacity() == have {
            // Past the up-front reservation: grow geometrically, as appending would.
            p.frame_payload
                .reserve(missing.min(have.max(MAX_HEADER_LEN)));
        }
        let spare = p.frame_payload.spare_capacity_mut();
        let len = spare.len().min(missing);
        Some(&mut spare[..len])
    }

    /// Takes the `n` bytes just read into the room [`Receiver::direct_target`] gave, as
    /// [`Receiver::receive`] takes bytes of a read buffer.
    ///
    /// # Safety
    /// The first `n` bytes of the slice the last `direct_target` call returned must have
    /// been written, and nothing else may have been called on the receiver since.
    pub unsafe fn receive_direct(
        &mut self,
        n: usize,
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        if self.state != State::Open || n == 0 {
            return Ok(());
        }
        let (frame, start) = {
            let p = self.partial.as_mut().expect("direct_target gave room");
            let frame = p.buffered_frame.expect("direct_target gave room");
            let start = p.frame_payload.len();
            assert!(
                n <= p.frame_payload.capacity() - start && n <= frame.payload_len - start,
                "more bytes than direct_target gave room for"
            );
            // SAFETY: within the capacity (checked), and written by the caller (contract).
            unsafe { p.frame_payload.set_len(start + n) };
            (frame, start)
        };
        let result = self.check_direct(frame, start, handler);
        self.settle(result)
    }

    /// Unmasks and validates bytes appended to a buffered payload from `start` on, and
    /// delivers the frame if they complete it.
    fn check_direct(
        &mut self,
        frame: Frame,
        start: usize,
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        let p = self.partial.as_mut().expect("direct_target gave room");
        let chunk = &mut p.frame_payload[start..];
        if let Some(key) = frame.mask {
            apply_mask_offset(chunk, key, start);
        }
        if frame.text {
            self.utf8.feed(chunk).map_err(|_| INVALID_UTF8)?;
        }
        self.finish_buffered_frame(frame, handler)
    }

    /// After a call that fed bytes: a failure ends parsing, and the state kept between
    /// reads is freed once nothing is in progress (or nothing more will be parsed).
    fn settle(&mut self, result: Result<(), CloseError>) -> Result<(), CloseError> {
        if result.is_err() {
            self.state = State::Failed;
        }
        if self.state != State::Open || self.partial.as_ref().is_some_and(|p| p.is_idle()) {
            self.partial = None;
        }
        result
    }

    fn receive_frames(
        &mut self,
        mut input: &mut [u8],
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.header_len > 0 || p.buffered_frame.is_some())
        {
            input = self.continue_buffered_frame(input, handler)?;
        }
        while !input.is_empty() && self.state == State::Open {
            let Some((header, header_len)) = parse_header(input) else {
                let p = self.partial();
                p.header_buf[..input.len()].copy_from_slice(input);
                p.header_len = input.len() as u8;
                return Ok(());
            };
            let frame = self.check_header(&header)?;
            let (_, rest) = std::mem::take(&mut input).split_at_mut(header_len);
            if rest.len() < frame.payload_len {
                self.start_buffered_frame(frame);
                return self.append_payload(frame, rest);
            }
            let (payload, rest) = rest.split_at_mut(frame.payload_len);
            if let Some(key) = frame.mask {
                apply_mask(payload, key);
            }
            if frame.text {
                self.utf8.feed(payload).map_err(|_| INVALID_UTF8)?;
            }
            self.on_frame(frame, Payload::Borrowed(payload), handler)?;
            input = rest;
        }
        Ok(())
    }

    /// Continues the frame left incomplete by the previous read; returns
    /// the input that follows it (empty if it is still incomplete).
    fn continue_buffered_frame<'a>(
        &mut self,
        mut input: &'a mut [u8],
        handler: &mut impl Handler,
    ) -> Result<&'a mut [u8], CloseError> {
        let frame = match self.partial().buffered_frame {
            Some(frame) => frame,
            None => {
                let p = self.partial();
                let have = p.header_len as usize;
                // A header never exceeds MAX_HEADER_LEN, so this always suffices.
                let take = (MAX_HEADER_LEN - have).min(input.len());
                p.header_buf[have..have + take].copy_from_slice(&input[..take]);
                let Some((header, header_len)) = parse_header(&p.header_buf[..have + take]) else {
                    p.header_len += take as u8;
                    return Ok(&mut []);
                };
                p.header_len = 0;
                input = &mut input[header_len - have..];
                let frame = self.check_header(&header)?;
                self.start_buffered_frame(frame);
                frame
            }
        };
        let missing = frame.payload_len - self.partial().frame_payload.len();
        let (chunk, rest) = input.split_at_mut(missing.min(input.len()));
        self.append_payload(frame, chunk)?;
        self.finish_buffered_frame(frame, handler)?;
        Ok(rest)
    }

    /// Delivers the buffered frame if its payload is complete.
    fn finish_buffered_frame(
        &mut self,
        frame: Frame,
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        let p = self.partial();
        if p.frame_payload.len() == frame.payload_len {
            p.buffered_frame = None;
            let payload = std::mem::take(&mut p.frame_payload);
            if frame.opcode.is_control() {
                self.on_frame(frame, Payload::Borrowed(&payload), handler)?;
            } else {
                self.on_frame(frame, Payload::Owned(payload), handler)?;
            }
        }
        Ok(())
    }

    fn start_buffered_frame(&mut self, frame: Frame) {
        let p = self.partial();
        p.buffered_frame = Some(frame);
        p.frame_payload.clear();
        let reserve = frame.payload_len.min(MAX_UP_FRONT_RESERVE);
        p.frame_payload.reserve_exact(reserve);
    }

    /// Unmasks, validates and stores the next piece of a buffered payload.
    fn append_payload(&mut self, frame: Frame, chunk: &mut [u8]) -> Result<(), CloseError> {
        if let Some(key) = frame.mask {
            apply_mask_offset(chunk, key, self.partial().frame_payload.len());
        }
        if frame.text {
            // Validating each piece lets a long text frame fail fast.
            self.utf8.feed(chunk).map_err(|_| INVALID_UTF8)?;
        }
        self.partial().frame_payload.extend_from_slice(chunk);
        Ok(())
    }

    /// Applies the framing rules to a header, before any payload is read.
    fn check_header(&mut self, header: &FrameHeader) -> Result<Frame, CloseError> {
        let opcode = OpCode::from_u8(header.opcode).ok_or(protocol_error("reserved opcode"))?;
        let starts_message = matches!(opcode, OpCode::Text | OpCode::Binary);
        let rsv1_allowed = starts_message && self.inflater.is_some();
        if header.rsv2 || header.rsv3 || (header.rsv1 && !rsv1_allowed) {
            return Err(protocol_error("reserved bits set"));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(protocol_error("client frame not masked")),
            (Role::Client, true) => return Err(protocol_error("server frame masked")),
            _ => {}
        }
        if header.payload_len >> 63 != 0 {
            return Err(protocol_error("invalid payload length"));
        }
        if opcode.is_control() {
            if !header.fin {
                return Err(protocol_error("fragmented control frame"));
            }
            if header.payload_len > 125 {
                return Err(protocol_error("control frame too long"));
            }
        } else {
            match (opcode, self.message()) {
                (OpCode::Continuation, None) => {
                    return Err(protocol_error("continuation without message"))
                }
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(protocol_error("expected continuation frame"))
                }
                _ => {}
            }
            let fragments = self.partial.as_ref().map_or(0, |p| p.fragments.len());
            let total = fragments as u64 + header.payload_len;
            if total > self.max_payload_length as u64 {
                return Err(MESSAGE_TOO_BIG);
            }
        }
        let text = match (opcode, self.message()) {
            (OpCode::Text, _) => !header.rsv1,
            (OpCode::Continuation, Some(message)) => !message.binary && !message.compressed,
            _ => false,
        };
        if opcode == OpCode::Text {
            self.utf8.reset();
        }
        Ok(Frame {
            opcode,
            fin: header.fin,
            compressed: header.rsv1,
            text,
            mask: header.mask,
            // Fits: bounded by 125 or by max_payload_length (a usize).
            payload_len: header.payload_len as usize,
        })
    }

    /// Handles a complete, unmasked frame whose text bytes were already fed
    /// to the UTF-8 validator.
    fn on_frame(
        &mut self,
        frame: Frame,
        payload: Payload<'_>,
        handler: &mut impl Handler,
    ) -> Result<(), CloseError> {
        if frame.text && frame.fin {
            self.utf8.finish().map_err(|_| INVALID_UTF8)?;
        }
        match frame.opcode {
            OpCode::Close => return self.on_close(payload.as_slice(), handler),
            OpCode::Ping => handler.ping(payload.as_slice()),
            OpCode::Pong => handler.pong(payload.as_slice()),
            OpCode::Text | OpCode::Binary if frame.fin => {
                let binary = frame.opcode == OpCode::Binary;
                if frame.compressed {
                    let message = self.inflate(payload.as_slice(), binary)?;
                    handler.message(binary, Payload::Owned(message));
                } else {
                    handler.message(binary, payload);
                }
            }
            OpCode::Text | OpCode::Binary => {
                let p = self.partial();
                p.message = Some(Message {
                    binary: frame.opcode == OpCode::Binary,
                    compressed: frame.compressed,
                });
                match payload {
                    Payload::Owned(vec) => p.fragments = vec,
                    Payload::Borrowed(slice) => {
                        p.fragments.clear();
                        p.fragments.extend_from_slice(slice);
                    }
                }
            }
            OpCode::Continuation => {
                let p = self.partial();
                p.fragments.extend_from_slice(payload.as_slice());
                if frame.fin {
                    let message = p.message.take().expect("checked in check_header");
                    let assembled = std::mem::take(&mut p.fragments);
                    if message.compressed {
                        let inflated = self.inflate(&assembled, message.binary);
                        handler.message(message.binary, Payload::Owned(inflated?));
                    } else {
                        handler.message(message.binary, Payload::Owned(assembled));
                    }
                }
            }
        }
        Ok(())
    }

    /// Decompresses a whole message, limited to max_payload_length, and
    /// validates it if it is text.
    fn inflate(&mut self, compressed: &[u8], binary: bool) -> Result<Vec<u8>, CloseError> {
        let inflater = self
            .inflater
            .as_mut()
            .expect("RSV1 is refused without an inflater");
        let mut message = Vec::new();
        inflater
            .decompress(compressed, self.max_payload_length, &mut message)
            .map_err(|error| match error {
                InflateError::TooBig => MESSAGE_TOO_BIG,
                InflateError::Corrupt => INVALID_COMPRESSED_DATA,
            })?;
        if !binary && simdutf8::basic::from_utf8(&message).is_err() {
            return Err(INVALID_UTF8);
        }
        Ok(message)
    }

    fn on_close(&mut self, payload: &[u8], handler: &mut impl Handler) -> Result<(), CloseError> {
        let code = match payload {
            [] => None,
            [_] => return Err(protocol_error("invalid close payload")),
            [high, low, reason @ ..] => {
                let code = u16::from_be_bytes([*high, *low]);
                if !is_valid_close_code(code) {
                    return Err(protocol_error("invalid close code"));
                }
                if simdutf8::basic::from_utf8(reason).is_err() {
                    return Err(INVALID_UTF8);
                }
                Some(code)
            }
        };
        self.state = State::Closed;
        handler.close(code, payload.get(2..).unwrap_or_default());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
