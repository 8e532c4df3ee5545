//! The response side of uWS.js's `HttpResponse`: a state machine that writes
//! a status line, headers and a body into the caller's buffer, and refuses
//! calls in the wrong order instead of producing a broken message.

use std::io::Write as _;

use super::date::HttpDate;
use super::request::{RequestHead, Version};
use super::{is_field_content, is_tchar, list_members};

/// What the writer needs to know about the request being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseOptions {
    /// HEAD request: headers exactly as for GET, no body bytes.
    pub head_request: bool,
    /// The request allows reusing the connection afterwards.
    pub keep_alive: bool,
    /// The client speaks HTTP/1.1, so a streamed body may be chunked; an
    /// HTTP/1.0 client gets a streamed body delimited by closing instead.
    pub http11: bool,
    /// Sent as `Date` when the head is finished (unless the app wrote one).
    pub date: Option<HttpDate>,
}

impl Default for ResponseOptions {
    fn default() -> Self {
        ResponseOptions {
            head_request: false,
            keep_alive: true,
            http11: true,
            date: None,
        }
    }
}

impl ResponseOptions {
    /// Options answering `head`, with the server's cached date.
    pub fn for_request(head: &RequestHead, date: Option<HttpDate>) -> Self {
        ResponseOptions {
            head_request: head.is_head(),
            keep_alive: head.keep_alive(),
            http11: head.version() == Version::Http11,
            date,
        }
    }
}

/// How a body already started is being delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// `write()`: Transfer-Encoding: chunked.
    Chunked,
    /// `try_end()`: Content-Length announced, this many bytes still owed.
    Sized { remaining: u64 },
    /// `write()` to an HTTP/1.0 client: the body ends when the connection does.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseState {
    /// Nothing written yet; `write_status` may still choose the status.
    StatusPending,
    /// Status line written; headers may be added.
    Headers,
    /// Head finished, body being written.
    Streaming(BodyMode),
    /// The response is complete.
    Done,
}

/// A call the writer refused; nothing was written. Messages read like the
/// JS errors they become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    InvalidStatus,
    StatusAlreadyWritten,
    InvalidHeaderName,
    InvalidHeaderValue,
    FramingHeader,
    BodyStarted,
    Ended,
    BodyNotAllowed,
    BodyModeMismatch,
    SizeExceeded,
    LengthWithoutBody,
}

impl ResponseError {
    pub fn message(&self) -> &'static str {
        match self {
            ResponseError::InvalidStatus => {
                "writeStatus: expected a status code 200-599 and an optional reason, e.g. '200 OK'"
            }
            ResponseError::StatusAlreadyWritten => {
                "writeStatus: the status line was already written; call writeStatus once, before writeHeader"
            }
            ResponseError::InvalidHeaderName => {
                "writeHeader: header names must be non-empty tokens (no spaces, colons or control characters)"
            }
            ResponseError::InvalidHeaderValue => {
                "writeHeader: header values must not contain CR, LF or other control characters"
            }
            ResponseError::FramingHeader => {
                "writeHeader: Content-Length and Transfer-Encoding are set by end, endWithoutBody, write and tryEnd"
            }
            ResponseError::BodyStarted => {
                "writeStatus/writeHeader: the body was already started; write status and headers first"
            }
            ResponseError::Ended => "the response was already ended",
            ResponseError::BodyNotAllowed => "responses with status 204 or 304 cannot have a body",
            ResponseError::BodyModeMismatch => {
                "write() and tryEnd() cannot be mixed in one response"
            }
            ResponseError::SizeExceeded => "tryEnd/end: more bytes than the total size announced to tryEnd",
            ResponseError::LengthWithoutBody => {
                "endWithoutBody: a reported content length is only valid for HEAD requests (not 204) and 304 responses, before the body"
            }
        }
    }
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ResponseError {}

/// The framing header written when the head is finished.
enum Framing {
    Length(u64),
    Chunked,
    None,
}

/// Writes one response, uWS.js style.
///
/// Decisions:
/// * `write_status` takes uWS's status string ("404 Not Found"); the code must
///   be 200-599 (use [`write_continue`] for 100). Without it the status is
///   "200 OK". A second `write_status` is an error (uWS ignores it).
/// * Headers are written in call order, as given; names must be tokens and
///   values free of CR, LF and other controls, so nothing can be injected.
///   `Content-Length` and `Transfer-Encoding` are refused: the writer owns
///   framing. A `Date` from the app replaces the automatic one.
/// * The head ends at the first body call: `Date`, then `Connection`, then
///   the framing header. `Connection: close` is added whenever the connection
///   will close (request asked, `close_connection`, or an HTTP/1.0 stream),
///   unless the app already sent a `close`; an HTTP/1.0 client kept alive
///   gets `Connection: keep-alive`.
/// * `end(body)` before any `write` sends `Content-Length`; after `write` it
///   sends `body` as the last chunk and the `0\r\n\r\n` terminator.
/// * HEAD: every header as for GET (`Content-Length` of the body given to
///   `end`, or chunked), but no body bytes at all.
/// * 204 and 304: no framing header (except a length reported by
///   `end_without_body` on a 304), and any body is an error.
/// * `end_without_body(None)` sends `Content-Length: 0` when a body was
///   possible (uWS sends no length, leaving keep-alive clients waiting).
///   A reported length needs HEAD or 304: otherwise the client would wait
///   for bytes that never come.
/// * `try_end` announces `Content-Length: total` and counts bytes; ending
///   short of it (`end`/`end_without_body`) ends the response and marks the
///   connection to be closed, the only honest signal of a truncated body.
#[derive(Debug, Clone)]
pub struct ResponseWriter {
    options: ResponseOptions,
    state: ResponseState,
    status: u16,
    keep_alive: bool,
    app_connection: bool,
    app_close: bool,
    app_date: bool,
}

impl ResponseWriter {
    pub fn new(options: ResponseOptions) -> Self {
        ResponseWriter {
            options,
            state: ResponseState::StatusPending,
            status: 200,
            keep_alive: options.keep_alive,
            app_connection: false,
            app_close: false,
            app_date: false,
        }
    }

    pub fn state(&self) -> ResponseState {
        self.state
    }

    pub fn is_done(&self) -> bool {
        self.state == ResponseState::Done
    }

    /// The status code (200 until `write_status` says otherwise).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the connection may carry another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// uWS `writeStatus("404 Not Found")`: the status line, written at once.
    pub fn write_status(&mut self, out: &mut Vec<u8>, status: &[u8]) -> Result<(), ResponseError> {
        match self.state {
            ResponseState::StatusPending => {}
            ResponseState::Headers => return Err(ResponseError::StatusAlreadyWritten),
            ResponseState::Streaming(_) => return Err(ResponseError::BodyStarted),
            ResponseState::Done => return Err(ResponseError::Ended),
        }
        self.status = parse_status(status)?;
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status);
        if status.len() == 3 {
            out.push(b' ');
        }
        out.extend_from_slice(b"\r\n");
        self.state = ResponseState::Headers;
        Ok(())
    }

    /// uWS `writeHeader(name, value)`: one header line, after "200 OK" if no
    /// status was written.
    pub fn write_header(
        &mut self,
        out: &mut Vec<u8>,
        name: &[u8],
        value: &[u8],
    ) -> Result<(), ResponseError> {
        match self.state {
            ResponseState::StatusPending | ResponseState::Headers => {}
            ResponseState::Streaming(_) => return Err(ResponseError::BodyStarted),
            ResponseState::Done => return Err(ResponseError::Ended),
        }
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ResponseError::InvalidHeaderName);
        }
        if !value.iter().all(|&b| is_field_content(b)) {
            return Err(ResponseError::InvalidHeaderValue);
        }
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            return Err(ResponseError::FramingHeader);
        }
        if name.eq_ignore_ascii_case(b"connection") {
            self.app_connection = true;
            if list_members(value).any(|token| token.eq_ignore_ascii_case(b"close")) {
                self.app_close = true;
                self.keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case(b"date") {
            self.app_date = true;
        }
        self.ensure_status(out);
        out.reserve(name.len() + value.len() + 4);
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// uWS `write(chunk)`: streams part of the body (chunked for HTTP/1.1).
    /// An empty chunk only finishes the head.
    pub fn write(&mut self, out: &mut Vec<u8>, chunk: &[u8]) -> Result<(), ResponseError> {
        let mode = match self.state {
            ResponseState::Done => return Err(ResponseError::Ended),
            ResponseState::Streaming(BodyMode::Sized { .. }) => {
                return Err(ResponseError::BodyModeMismatch)
            }
            ResponseState::Streaming(mode) => mode,
            ResponseState::StatusPending | ResponseState::Headers => {
                if !self.body_allowed() {
                    return Err(ResponseError::BodyNotAllowed);
                }
                if self.options.http11 {
                    self.finish_head(out, Framing::Chunked);
                    BodyMode::Chunked
                } else {
                    if !self.options.head_request {
                        self.keep_alive = false;
                    }
                    self.finish_head(out, Framing::None);
                    BodyMode::UntilClose
                }
            }
        };
        self.state = ResponseState::Streaming(mode);
        if !self.options.head_request {
            match mode {
                BodyMode::Chunked => write_chunk(out, chunk),
                _ => out.extend_from_slice(chunk),
            }
        }
        Ok(())
    }

    /// uWS `end(body, closeConnection)`: the rest of the body, then done.
    pub fn end(
        &mut self,
        out: &mut Vec<u8>,
        body: &[u8],
        close_connection: bool,
    ) -> Result<(), ResponseError> {
        let send_body = !self.options.head_request;
        match self.state {
            ResponseState::Done => return Err(ResponseError::Ended),
            ResponseState::StatusPending | ResponseState::Headers => {
                let allowed = self.body_allowed();
                if !allowed && !body.is_empty() {
                    return Err(ResponseError::BodyNotAllowed);
                }
                self.close_if(close_connection);
                let framing = if allowed {
                    Framing::Length(body.len() as u64)
                } else {
                    Framing::None
                };
                self.finish_head(out, framing);
                if send_body {
                    out.extend_from_slice(body);
                }
            }
            ResponseState::Streaming(BodyMode::Chunked) => {
                self.close_if(close_connection);
                if send_body {
                    write_chunk(out, body);
                    write_last_chunk(out);
                }
            }
            ResponseState::Streaming(BodyMode::UntilClose) => {
                self.close_if(close_connection);
                if send_body {
                    out.extend_from_slice(body);
                }
            }
            ResponseState::Streaming(BodyMode::Sized { remaining }) => {
                if body.len() as u64 > remaining {
                    return Err(ResponseError::SizeExceeded);
                }
                self.close_if(close_connection || (body.len() as u64) < remaining);
                if send_body {
                    out.extend_from_slice(body);
                }
            }
        }
        self.state = ResponseState::Done;
        Ok(())
    }

    /// uWS `endWithoutBody(reportedContentLength, closeConnection)`.
    pub fn end_without_body(
        &mut self,
        out: &mut Vec<u8>,
        reported_length: Option<u64>,
        close_connection: bool,
    ) -> Result<(), ResponseError> {
        match self.state {
            ResponseState::Done => return Err(ResponseError::Ended),
            ResponseState::StatusPending | ResponseState::Headers => {
                let framing = match reported_length {
                    Some(length)
                        if (self.options.head_request && self.body_allowed())
                            || self.status == 304 =>
                    {
                        Framing::Length(length)
                    }
                    Some(_) => return Err(ResponseError::LengthWithoutBody),
                    None if self.options.head_request || !self.body_allowed() => Framing::None,
                    None => Framing::Length(0),
                };
                self.close_if(close_connection);
                self.finish_head(out, framing);
            }
            ResponseState::Streaming(_) if reported_length.is_some() => {
                return Err(ResponseError::LengthWithoutBody)
            }
            ResponseState::Streaming(mode) => {
                let truncated = matches!(mode, BodyMode::Sized { remaining } if remaining > 0);
                self.close_if(close_connection || truncated);
                if mode == BodyMode::Chunked && !self.options.head_request {
                    write_last_chunk(out);
                }
            }
        }
        self.state = ResponseState::Done;
        Ok(())
    }

    /// uWS `tryEnd(chunk, totalSize)` minus the backpressure part: the first
    /// call announces `Content-Length: total_size`; returns whether the body
    /// is complete.
    pub fn try_end(
        &mut self,
        out: &mut Vec<u8>,
        chunk: &[u8],
        total_size: u64,
    ) -> Result<bool, ResponseError> {
        let remaining = match self.state {
            ResponseState::Done => return Err(ResponseError::Ended),
            ResponseState::Streaming(BodyMode::Sized { remaining }) => remaining,
            ResponseState::Streaming(_) => return Err(ResponseError::BodyModeMismatch),
            ResponseState::StatusPending | ResponseState::Headers => {
                if !self.body_allowed() && total_size > 0 {
                    return Err(ResponseError::BodyNotAllowed);
                }
                if chunk.len() as u64 > total_size {
                    return Err(ResponseError::SizeExceeded);
                }
                let framing = if self.body_allowed() {
                    Framing::Length(total_size)
                } else {
                    Framing::None
                };
                self.finish_head(out, framing);
                total_size
            }
        };
        if chunk.len() as u64 > remaining {
            return Err(ResponseError::SizeExceeded);
        }
        if !self.options.head_request {
            out.extend_from_slice(chunk);
        }
        let remaining = remaining - chunk.len() as u64;
        self.state = if remaining == 0 {
            ResponseState::Done
        } else {
            ResponseState::Streaming(BodyMode::Sized { remaining })
        };
        Ok(remaining == 0)
    }

    /// 204 and 304 carry no body (1xx never reaches here).
    fn body_allowed(&self) -> bool {
        self.status != 204 && self.status != 304
    }

    fn close_if(&mut self, close: bool) {
        if close {
            self.keep_alive = false;
        }
    }

    fn ensure_status(&mut self, out: &mut Vec<u8>) {
        if self.state == ResponseState::StatusPending {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            self.state = ResponseState::Headers;
        }
    }

    fn finish_head(&mut self, out: &mut Vec<u8>, framing: Framing) {
        self.ensure_status(out);
        if let (Some(date), false) = (self.options.date, self.app_date) {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.keep_alive && !self.app_close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if self.keep_alive && !self.options.http11 && !self.app_connection {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        match framing {
            Framing::Length(length) => {
                let _ = write!(out, "Content-Length: {length}\r\n");
            }
            Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::None => {}
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// `HTTP/1.1 100 Continue`, for a request with `expect_continue()`, written
/// before the final response.
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// One chunk: hex size, CRLF, data, CRLF. Nothing for empty data, which
/// would otherwise read as the last chunk.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with no trailers: `0\r\n\r\n`.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Three digits 200-599, then nothing or a space and a reason phrase.
fn parse_status(status: &[u8]) -> Result<u16, ResponseError> {
    let (code, rest) = status
        .split_at_checked(3)
        .ok_or(ResponseError::InvalidStatus)?;
    if !code.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&code[0]) {
        return Err(ResponseError::InvalidStatus);
    }
    let reason_ok = match rest.split_first() {
        None => true,
        Some((b' ', reason)) => reason.iter().all(|&b| is_field_content(b)),
        Some(_) => false,
    };
    if !reason_ok {
        return Err(ResponseError::InvalidStatus);
    }
    Ok(code
        .iter()
        .fold(0u16, |acc, &digit| acc * 10 + u16::from(digit - b'0')))
}

#[cfg(test)]
mod tests;
