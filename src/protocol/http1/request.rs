//! Request heads: an incremental scan for the end of the head, then one
//! `httparse` pass over the complete head, then the framing and connection
//! decisions of RFC 9112.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::body::{BodyDecoder, BodyFraming};
use super::{list_members, HttpError, Limits, MAX_HEADERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Where the scan for the end of the head stopped, so bytes that trickle in
/// are looked at once, not once per read.
#[derive(Debug, Default, Clone)]
struct Scan {
    /// Next byte to look at.
    pos: usize,
    /// Start of the request line (after leading empty lines).
    start: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// The request line is complete; lines now are field lines.
    in_fields: bool,
    field_lines: usize,
}

/// Finds and parses request heads in a connection's read buffer.
///
/// Between a partial result and the next call the caller may only append to
/// the buffer; after a complete head (or an error) the parser starts afresh,
/// so the next call must pass the bytes after `consumed`.
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    limits: Limits,
    scan: Scan,
}

impl RequestParser {
    /// A parser with the default `Limits`.
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// A parser with custom limits (`max_headers` is capped at `MAX_HEADERS`).
    pub fn with_limits(limits: Limits) -> Self {
        let mut limits = limits;
        limits.max_headers = limits.max_headers.min(MAX_HEADERS);
        RequestParser {
            limits,
            scan: Scan::default(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets a partially scanned head (e.g. when the buffer was replaced).
    pub fn reset(&mut self) {
        self.scan = Scan::default();
    }

    /// Ok(None): the head is not complete yet (nothing is copied; call again
    /// with the same bytes plus more). Ok(Some((head, consumed))): the head
    /// took `consumed` bytes; the body, if any, starts right after it.
    pub fn parse_head(&mut self, buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
        if buf.len() < self.scan.pos {
            // Not the buffer we were scanning: start over rather than misread.
            self.reset();
        }
        let scanned = self.find_head_end(buf);
        let start = self.scan.start;
        let end = match scanned {
            Ok(Some(end)) => end,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.reset();
                return Err(error);
            }
        };
        self.reset();
        let head = RequestHead::parse(&buf[start..end], &self.limits)?;
        Ok(Some((head, end)))
    }

    /// A decoder for the body announced by `head`, bounded by `max_body`.
    /// Fails (413) only for a head that did not come from this parser, as
    /// `parse_head` already refuses a Content-Length over the limit.
    pub fn body_decoder(&self, head: &RequestHead) -> Result<BodyDecoder, HttpError> {
        BodyDecoder::with_limit(head.framing(), self.limits.max_body)
    }

    /// Ok(Some(end)): the head ends at `end` (after its empty line).
    ///
    /// The answer depends only on the bytes, not on how they were split
    /// across reads: each byte is judged as if it had just arrived, so bytes
    /// past `max_head_bytes` are never looked at (the head is too large by
    /// then), and a request line is too long as soon as it passes
    /// `max_request_line`, whatever ends it.
    fn find_head_end(&mut self, buf: &[u8]) -> Result<Option<usize>, HttpError> {
        let limits = &self.limits;
        let scan = &mut self.scan;
        let end = buf.len().min(limits.max_head_bytes);
        while let Some(offset) = buf[scan.pos..end].iter().position(|&b| b == b'\n') {
            let lf = scan.pos + offset;
            let cr = lf > scan.line_start && buf[lf - 1] == b'\r';
            if !scan.in_fields && lf - scan.line_start - usize::from(cr) > limits.max_request_line {
                return Err(HttpError::new(414, "Request line too long"));
            }
            if !cr {
                return Err(HttpError::new(400, "Bare LF in request head"));
            }
            let line_len = lf - 1 - scan.line_start;
            let next = lf + 1;
            if !scan.in_fields {
                if line_len == 0 {
                    scan.start = next;
                } else {
                    scan.in_fields = true;
                }
            } else if line_len == 0 {
                return Ok(Some(next));
            } else {
                scan.field_lines += 1;
                if scan.field_lines > limits.max_headers {
                    return Err(HttpError::new(431, "Too many header fields"));
                }
            }
            scan.line_start = next;
            scan.pos = next;
        }
        scan.pos = end;
        if !scan.in_fields {
            // A CR at the very end may be the start of the line's CRLF.
            let pending_cr = usize::from(buf[..end].last() == Some(&b'\r'));
            if end - scan.line_start - pending_cr > limits.max_request_line {
                return Err(HttpError::new(414, "Request line too long"));
            }
        }
        if end >= limits.max_head_bytes {
            return Err(HttpError::new(431, "Request head too large"));
        }
        Ok(None)
    }
}

/// Bit flags decided while parsing, kept in one byte.
const KEEP_ALIVE: u8 = 1;
const EXPECT_CONTINUE: u8 = 2;
const WEBSOCKET_UPGRADE: u8 = 4;

type Span = Range<u32>;

/// A parsed request head. Owns one string holding method, target and the
/// fields; accessors slice it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    text: String,
    method: Span,
    url: Span,
    query: Span,
    fields: Vec<(Span, Span)>,
    version: Version,
    framing: BodyFraming,
    flags: u8,
}

impl RequestHead {
    /// As sent, e.g. "GET".
    pub fn method(&self) -> &str {
        self.slice(&self.method)
    }

    /// The request-target without `?query`.
    pub fn url(&self) -> &str {
        self.slice(&self.url)
    }

    /// After the first '?', without it; "" when there is none.
    pub fn query(&self) -> &str {
        self.slice(&self.query)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// First field with this (lowercase) name, trimmed.
    pub fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.headers()
            .find(|(name, _)| *name == lowercase_name)
            .map(|(_, value)| value)
    }

    /// Every field with this (lowercase) name, in order.
    pub fn header_values<'a>(
        &'a self,
        lowercase_name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.headers()
            .filter(move |(name, _)| *name == lowercase_name)
            .map(|(_, value)| value)
    }

    /// (lowercase name, trimmed value) in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(name, value)| (self.slice(name), self.slice(value)))
    }

    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// How the body that follows the head is delimited.
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection may carry another request after this one.
    pub fn keep_alive(&self) -> bool {
        self.flags & KEEP_ALIVE != 0
    }

    /// HTTP/1.1 request with `Expect: 100-continue`: the server should write
    /// `write_continue` before reading the body (if it wants it).
    pub fn expect_continue(&self) -> bool {
        self.flags & EXPECT_CONTINUE != 0
    }

    /// GET with `Upgrade: websocket` and `Connection: upgrade`; the
    /// handshake proper (key, version) is checked by the handshake module.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.flags & WEBSOCKET_UPGRADE != 0
    }

    /// HEAD: the response carries headers but no body.
    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }

    fn slice(&self, span: &Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    /// Parses a complete head (request line to the empty line, inclusive).
    fn parse(bytes: &[u8], limits: &Limits) -> Result<RequestHead, HttpError> {
        let mut storage = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(bytes, &mut storage) {
            Ok(httparse::Status::Complete(len)) if len == bytes.len() => {}
            Ok(_) => return Err(HttpError::new(400, "Malformed request head")),
            Err(error) => return Err(map_parse_error(error, bytes)),
        }
        let version = match request.version {
            Some(0) => Version::Http10,
            _ => Version::Http11,
        };
        let method = request.method.unwrap_or_default();
        let target = request.path.unwrap_or_default();
        let semantics = Semantics::read(request.headers, version, limits)?;

        let mut text = String::with_capacity(bytes.len());
        let method_span = push(&mut text, method);
        let (url, query) = target.split_once('?').unwrap_or((target, ""));
        let url_span = push(&mut text, url);
        let query_span = push(&mut text, query);
        let mut fields = Vec::with_capacity(request.headers.len());
        for field in request.headers.iter() {
            let name = push(&mut text, field.name);
            text[name.start as usize..].make_ascii_lowercase();
            let value = match std::str::from_utf8(field.value) {
                Ok(value) => push(&mut text, value),
                Err(_) => push(&mut text, &String::from_utf8_lossy(field.value)),
            };
            fields.push((name, value));
        }
        let mut flags = 0;
        if semantics.keep_alive(version) {
            flags |= KEEP_ALIVE;
        }
        if semantics.expect_continue && version == Version::Http11 {
            flags |= EXPECT_CONTINUE;
        }
        if semantics.upgrade_websocket && semantics.connection_upgrade && method == "GET" {
            flags |= WEBSOCKET_UPGRADE;
        }
        Ok(RequestHead {
            text,
            method: method_span,
            url: url_span,
            query: query_span,
            fields,
            version,
            framing: semantics.framing,
            flags,
        })
    }
}

fn push(text: &mut String, piece: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(piece);
    start..text.len() as u32
}

fn map_parse_error(error: httparse::Error, head: &[u8]) -> HttpError {
    match error {
        httparse::Error::Version if names_other_version(head) => {
            HttpError::new(505, "Only HTTP/1.0 and HTTP/1.1")
        }
        httparse::Error::HeaderName => HttpError::new(400, "Invalid header name"),
        httparse::Error::HeaderValue => HttpError::new(400, "Invalid header value"),
        httparse::Error::NewLine => HttpError::new(400, "Invalid line ending"),
        httparse::Error::Token => HttpError::new(400, "Malformed request line"),
        httparse::Error::TooManyHeaders => HttpError::new(431, "Too many header fields"),
        _ => HttpError::new(400, "Malformed request head"),
    }
}

/// Whether the request line is well formed but for its version: three parts,
/// the last `HTTP/<digit>.<digit>` (httparse reports any trouble after the
/// target as a version error).
fn names_other_version(head: &[u8]) -> bool {
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let mut parts = head[..line_end].split(|&b| b == b' ');
    let version = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(version), None) => version,
        _ => return false,
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// What the fields say about framing and the connection.
#[derive(Default)]
struct Semantics {
    framing: BodyFraming,
    close: bool,
    keep_alive_token: bool,
    connection_upgrade: bool,
    upgrade_websocket: bool,
    expect_continue: bool,
}

impl Semantics {
    fn read(
        fields: &[httparse::Header],
        version: Version,
        limits: &Limits,
    ) -> Result<Semantics, HttpError> {
        let mut semantics = Semantics::default();
        let mut content_length: Option<u64> = None;
        let mut codings = Codings::default();
        let mut hosts = 0;
        for field in fields {
            let name = field.name;
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(read_content_length(field.value, content_length)?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                codings.add(field.value);
            } else if name.eq_ignore_ascii_case("host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in list_members(field.value) {
                    semantics.close |= token.eq_ignore_ascii_case(b"close");
                    semantics.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                    semantics.connection_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                }
            } else if name.eq_ignore_ascii_case("upgrade") {
                semantics.upgrade_websocket |=
                    list_members(field.value).any(|p| p.eq_ignore_ascii_case(b"websocket"));
            } else if name.eq_ignore_ascii_case("expect") {
                semantics.expect_continue |=
                    list_members(field.value).any(|e| e.eq_ignore_ascii_case(b"100-continue"));
            }
        }
        if hosts > 1 || (hosts == 0 && version == Version::Http11) {
            return Err(HttpError::new(400, "Exactly one Host header is required"));
        }
        semantics.framing = match (content_length, codings.seen) {
            (Some(_), true) => {
                return Err(HttpError::new(
                    400,
                    "Both Content-Length and Transfer-Encoding",
                ))
            }
            (None, true) if version == Version::Http10 => {
                return Err(HttpError::new(400, "Transfer-Encoding in HTTP/1.0"))
            }
            (None, true) => codings.framing()?,
            (Some(length), false) if length > limits.max_body => {
                return Err(HttpError::new(413, "Body too large"))
            }
            (Some(0), false) | (None, false) => BodyFraming::Empty,
            (Some(length), false) => BodyFraming::Length(length),
        };
        Ok(semantics)
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive_token && !self.close,
        }
    }
}

/// One Content-Length field line, checked against the value seen before.
fn read_content_length(value: &[u8], previous: Option<u64>) -> Result<u64, HttpError> {
    const INVALID: HttpError = HttpError::new(400, "Invalid Content-Length");
    let mut result = previous;
    let mut members = 0;
    for member in list_members(value) {
        members += 1;
        if !member.iter().all(u8::is_ascii_digit) {
            return Err(INVALID);
        }
        let length = member.iter().try_fold(0u64, |acc, &digit| {
            acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        });
        let Some(length) = length else {
            return Err(INVALID);
        };
        if result.is_some_and(|seen| seen != length) {
            return Err(HttpError::new(400, "Conflicting Content-Length values"));
        }
        result = Some(length);
    }
    match result {
        Some(length) if members > 0 => Ok(length),
        _ => Err(INVALID),
    }
}

/// The transfer codings of all Transfer-Encoding lines, as one list.
#[derive(Default)]
struct Codings {
    seen: bool,
    count: usize,
    chunked_count: usize,
    last_is_chunked: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for coding in list_members(value) {
            // "chunked" takes no parameters, so "chunked;x=1" is some other coding.
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            self.count += 1;
            self.chunked_count += usize::from(chunked);
            self.last_is_chunked = chunked;
        }
    }

    fn framing(&self) -> Result<BodyFraming, HttpError> {
        if !self.last_is_chunked {
            Err(HttpError::new(
                400,
                "Transfer-Encoding must end with chunked",
            ))
        } else if self.chunked_count > 1 {
            Err(HttpError::new(400, "chunked applied more than once"))
        } else if self.count > 1 {
            Err(HttpError::new(501, "Unsupported transfer coding"))
        } else {
            Ok(BodyFraming::Chunked)
        }
    }
}

#[cfg(test)]
mod tests;
