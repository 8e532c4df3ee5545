//! Sans-I/O HTTP/1.1 server codec (RFC 9112): request heads, body framing,
//! keep-alive and pipelining, and a uWS.js-style response writer. No sockets,
//! no runtime: the caller owns the read buffer and the write buffer.
//!
//! # Driving it from a read loop
//!
//! ```text
//! loop {
//!     read more bytes into `buf`
//!     while let Some((head, n)) = parser.parse_head(&buf)? {   // Err: write e.response_bytes(), close
//!         buf.drain(..n);
//!         if head.expect_continue() { write_continue(&mut out) }
//!         let mut body = parser.body_decoder(&head)?;
//!         while !body.is_done() {
//!             let step = body.decode(&buf)?;                  // may need more reads first
//!             deliver(&buf[step.body]); buf.drain(..step.consumed);
//!         }
//!         respond with ResponseWriter::new(ResponseOptions::for_request(&head, date));
//!         if !writer.keep_alive() { close }
//!     }   // whatever is left in `buf` is the start of the next (pipelined) request
//! }
//! ```
//!
//! # Decisions
//!
//! * **Line endings.** Every line of the head, of the chunked framing and of
//!   the trailers must end in CRLF. A bare LF is rejected with 400 (RFC 9112
//!   section 2.2 lets a recipient accept it; accepting it is a known
//!   request-smuggling lever when a proxy in front disagrees). A bare CR is
//!   rejected with 400 too.
//! * **Leading empty lines** (CRLF) before a request line are skipped, as
//!   RFC 9112 section 2.2 asks; they count towards the head size limit.
//! * **Head limits.** A request line longer than `Limits::max_request_line`
//!   (8 KiB) is 414, even when the head as a whole would still fit; a head
//!   (request line + fields + final CRLF) over `Limits::max_head_bytes`
//!   (16 KiB) or with more than `Limits::max_headers` (100) field lines is 431.
//!   Both are detected while bytes are still arriving, without waiting for the
//!   end of the head.
//! * **Malformed heads** are 400: obs-fold (a field line starting with
//!   whitespace), whitespace between a field name and its colon, invalid
//!   bytes in names/values/request line, a missing request-target. A
//!   well-formed `HTTP/x.y` other than 1.0 and 1.1 is 505. An HTTP/1.1
//!   request without exactly one `Host` is 400 (RFC 9112 section 3.2);
//!   HTTP/1.0 may omit it but not repeat it.
//! * **Header values** are stored without surrounding whitespace; names are
//!   lowercased; order and duplicates are kept. Values that are not UTF-8
//!   (obs-text) are converted lossily (U+FFFD), as a JS string would be.
//! * **Content-Length**: every field line and every list member must be
//!   1*DIGIT and all must be equal (`1, 1` or two lines of `1` are one value);
//!   signs, spaces inside, empty values, differing values or u64 overflow are 400.
//! * **Transfer-Encoding**: the codings across all lines form one list.
//!   It must end in `chunked` (without parameters), else 400 (RFC 9112
//!   section 6.3). `chunked` twice is 400. Any coding before the final
//!   `chunked` (`gzip, chunked`) is 501: we decode no codings. `identity`
//!   is not special (RFC 9112 dropped it): alone it is 400.
//! * **Both Content-Length and Transfer-Encoding** is 400. RFC 9112 section
//!   6.3 lets a server process the message by ignoring Content-Length; we
//!   reject it because it is only ever sent to smuggle requests.
//! * **HTTP/1.0 with Transfer-Encoding** is 400 (RFC 9112 section 6.1: its
//!   framing is faulty).
//! * **A request without either** has no body (RFC 9112 section 6.3, rule 7).
//! * **Body limit**: `Limits::max_body` (default unlimited). A Content-Length
//!   over it fails `parse_head` with 413 before any body byte is read; for
//!   chunked bodies the decoder fails with 413 as soon as a chunk size takes
//!   the total over it.
//! * **Chunked framing**: no whitespace after the size unless an extension
//!   follows (`1 ;a=b`, RFC 9112 BWS); chunk sizes over u64 are 400; the size
//!   line with its extensions is bounded (4 KiB, else 400); extensions and
//!   trailers are checked for syntax and discarded; trailers are bounded
//!   (16 KiB, else 431). The decoder keeps only counters: no buffering.
//! * **Keep-alive**: HTTP/1.1 stays open unless a `Connection` list holds
//!   `close`; HTTP/1.0 closes unless it holds `keep-alive` (and not `close`).
//! * **Expect**: `100-continue` on HTTP/1.1 sets `expect_continue()`; it is
//!   ignored on HTTP/1.0 (RFC 9110 section 10.1.1). Other expectations are
//!   ignored (no 417), like uWS.
//! * **Request-target**: split at the first `?` into `url()` and `query()`;
//!   absolute-form and `*` are passed through as they came.
//!
//! The response side's decisions are on [`ResponseWriter`].

mod body;
mod date;
mod request;
mod response;

pub use body::{BodyDecoder, BodyFraming, DecodeOut, MAX_CHUNK_LINE, MAX_TRAILER_BYTES};
pub use date::HttpDate;
pub use request::{RequestHead, RequestParser, Version};
pub use response::{
    write_chunk, write_continue, write_last_chunk, BodyMode, ResponseError, ResponseOptions,
    ResponseState, ResponseWriter,
};

use super::handshake::{write_status_response, MAX_HEADERS, MAX_HEADER_BYTES};

/// Bounds on what a client may make the server hold or count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line, field lines, final CRLF and any leading empty lines;
    /// more is 431.
    pub max_head_bytes: usize,
    /// The request line without its CRLF; more is 414.
    pub max_request_line: usize,
    /// Field lines in the head; more is 431. Capped at `MAX_HEADERS`.
    pub max_headers: usize,
    /// Body bytes (Content-Length, or the sum of chunk sizes); more is 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: MAX_HEADER_BYTES,
            max_request_line: 8 * 1024,
            max_headers: MAX_HEADERS,
            max_body: u64::MAX,
        }
    }
}

/// Why a request was refused: the status to answer with and a short reason,
/// used as the plain-text body. After any `HttpError` the connection must be
/// closed: the parser cannot know where the next request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

impl HttpError {
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }

    /// Standard reason phrase for `status` ("Bad Request").
    pub fn status_text(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            413 => "Content Too Large",
            414 => "URI Too Long",
            417 => "Expectation Failed",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            505 => "HTTP Version Not Supported",
            _ => "Error",
        }
    }

    /// Appends the full response (with `Connection: close`) to `out`.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let status_line = format!("{} {}", self.status, self.status_text());
        let headers = [("Content-Type".to_string(), "text/plain".to_string())];
        write_status_response(out, &status_line, &headers, self.reason.as_bytes());
    }

    /// The full response as a new buffer.
    pub fn response_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.write_response(&mut out);
        out
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.status_text(), self.reason)
    }
}

impl std::error::Error for HttpError {}

/// Bytes allowed in a token (RFC 9110 section 5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible characters, obs-text, SP and HTAB: what a field value, a reason
/// phrase or a chunk extension may hold (no CR, LF or other controls).
pub(crate) fn is_field_content(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// Trims optional whitespace (SP and HTAB only, RFC 9110 OWS).
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else { return &[] };
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .unwrap_or(start);
    &bytes[start..=end]
}

/// Members of a comma-separated list, OWS-trimmed, empty members skipped
/// (RFC 9110 section 5.6.1).
pub(crate) fn list_members(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|member| !member.is_empty())
}

#[cfg(test)]
mod tests;
