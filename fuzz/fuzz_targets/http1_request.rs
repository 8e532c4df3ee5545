//! The HTTP/1.1 request codec (`protocol::http1`: `RequestParser` and `BodyDecoder`)
//! as the server's HTTP phase drives it (src/server/http/task.rs): bytes arrive in
//! reads, heads are parsed as they accumulate, each body is decoded from what follows,
//! and the bytes after a body are the next (pipelined) request, until a request that
//! closes the connection or an error.
//!
//! Input: byte 0 picks the limits (head bytes, request line, field lines, body), byte 1
//! the number of read cuts (0-15), then the cuts (u16) and the bytes of the connection.
//!
//! Checked: no panic; the same requests, bodies and end whether the bytes come in one
//! read or cut anywhere; every accepted head is within the limits, ends in CRLF CRLF
//! with no bare CR or LF, has one Host (HTTP/1.1), lowercase token names, trimmed
//! values, and framing that follows from its fields (never both Content-Length and
//! Transfer-Encoding, Content-Length values all equal, Transfer-Encoding exactly
//! `chunked`); keep-alive, 100-continue and upgrade flags follow from the fields; a
//! Content-Length body is the next bytes, a chunked body equals what a separate
//! line-by-line decoder written here makes of the same bytes (or its error status);
//! consumed bytes stay within the input; errors are 400, 413, 414, 431, 501 or 505,
//! each only where its limit or rule allows it, with a response httparse reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsws::protocol::http1::{
    BodyDecoder, BodyFraming, HttpError, Limits, RequestHead, RequestParser, Version,
    MAX_CHUNK_LINE, MAX_TRAILER_BYTES,
};
use rsws_fuzz::cut_points;

const HEAD_BYTES: [usize; 4] = [16 * 1024, 64, 256, 1024];
const REQUEST_LINE: [usize; 4] = [8 * 1024, 16, 100, 1000];
const HEADERS: [usize; 4] = [100, 0, 1, 5];
const BODY: [u64; 4] = [u64::MAX, 0, 10, 1000];

/// A request as the server saw it.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    /// Offset of the head in the stream, and its length.
    at: usize,
    head_len: usize,
    method: String,
    url: String,
    query: String,
    version: Version,
    headers: Vec<(String, String)>,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
    websocket: bool,
    body: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The input ended: in a head, or in a body (`true`).
    Eof { in_body: bool, pending: usize },
    /// A request without keep-alive: the server closes after answering it.
    Close,
    /// Refused with this status (the connection closes).
    Error(u16),
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    requests: Vec<Request>,
    end: End,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_field_content(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

fn members(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
}

fn has_member(head: &RequestHead, name: &str, token: &str) -> bool {
    head.header_values(name)
        .any(|v| members(v).any(|m| m.eq_ignore_ascii_case(token)))
}

/// The first line that is not empty, without its CRLF (or up to the end).
fn request_line(bytes: &[u8]) -> &[u8] {
    let mut rest = bytes;
    while rest.starts_with(b"\r\n") {
        rest = &rest[2..];
    }
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = &rest[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What an accepted head must satisfy.
fn check_head(head: &RequestHead, bytes: &[u8], limits: &Limits) {
    let n = bytes.len();
    assert!(n <= limits.max_head_bytes, "head of {n} bytes accepted");
    assert!(bytes.ends_with(b"\r\n\r\n"));
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF accepted"),
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR accepted"),
            _ => {}
        }
    }
    assert!(request_line(bytes).len() <= limits.max_request_line);
    assert!(head.header_count() <= limits.max_headers.min(100));

    assert!(!head.method().is_empty() && head.method().bytes().all(is_tchar));
    assert!(!head.url().contains('?'));
    for (name, value) in head.headers() {
        assert!(!name.is_empty() && name.bytes().all(is_tchar), "{name:?}");
        assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{name:?}");
        assert_eq!(value, value.trim_matches([' ', '\t']), "{name}: {value:?}");
    }
    let hosts = head.header_values("host").count();
    match head.version() {
        Version::Http11 => assert_eq!(hosts, 1),
        Version::Http10 => assert!(hosts <= 1),
    }

    // Framing, from the fields.
    let lengths: Vec<&str> = head.header_values("content-length").collect();
    let codings: Vec<&str> = head
        .header_values("transfer-encoding")
        .flat_map(members)
        .collect();
    let has_te = head.header_values("transfer-encoding").next().is_some();
    let expected = if has_te {
        assert!(
            lengths.is_empty(),
            "Content-Length and Transfer-Encoding accepted"
        );
        assert_eq!(
            head.version(),
            Version::Http11,
            "Transfer-Encoding in HTTP/1.0"
        );
        assert_eq!(codings.len(), 1, "codings {codings:?}");
        assert!(codings[0].eq_ignore_ascii_case("chunked"));
        BodyFraming::Chunked
    } else if !lengths.is_empty() {
        let mut value = None;
        for line in &lengths {
            let mut any = false;
            for member in members(line) {
                any = true;
                assert!(member.bytes().all(|b| b.is_ascii_digit()), "{member:?}");
                let n: u64 = member.parse().expect("digits within u64");
                assert!(value.is_none_or(|v| v == n), "conflicting lengths accepted");
                value = Some(n);
            }
            assert!(any, "empty Content-Length accepted");
        }
        let n = value.unwrap();
        assert!(n <= limits.max_body);
        if n == 0 {
            BodyFraming::Empty
        } else {
            BodyFraming::Length(n)
        }
    } else {
        BodyFraming::Empty
    };
    assert_eq!(head.framing(), expected);

    // Flags.
    let close = has_member(head, "connection", "close");
    let keep_alive = match head.version() {
        Version::Http11 => !close,
        Version::Http10 => has_member(head, "connection", "keep-alive") && !close,
    };
    assert_eq!(head.keep_alive(), keep_alive);
    assert_eq!(
        head.expect_continue(),
        head.version() == Version::Http11 && has_member(head, "expect", "100-continue")
    );
    assert_eq!(
        head.is_websocket_upgrade(),
        head.method() == "GET"
            && has_member(head, "upgrade", "websocket")
            && has_member(head, "connection", "upgrade")
    );
}

/// Where a refusal may come from: `buf` is what `parse_head` was given.
fn check_head_error(error: &HttpError, buf: &[u8], limits: &Limits) {
    match error.status {
        400 | 505 => {}
        414 => assert!(
            request_line(buf).len() > limits.max_request_line,
            "414 with a request line of {} bytes",
            request_line(buf).len()
        ),
        431 => {
            let lines = buf.windows(2).filter(|w| w == b"\r\n").count();
            assert!(
                buf.len() >= limits.max_head_bytes || lines > limits.max_headers.min(100),
                "431 for {} bytes, {lines} lines",
                buf.len()
            );
        }
        413 => assert!(limits.max_body < u64::MAX),
        501 => {}
        status => panic!("head refused with {status}"),
    }
    check_response(error);
}

/// The refusal's response is complete HTTP/1.1 with its status and `Connection: close`.
fn check_response(error: &HttpError) {
    let out = error.response_bytes();
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("{error:?} response does not parse: {other:?}"),
    };
    assert_eq!(response.code, Some(error.status));
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    assert_eq!(header("connection"), Some(&b"close"[..]));
    let body_len = (out.len() - head_len).to_string();
    assert_eq!(header("content-length"), Some(body_len.as_bytes()));
}

/// A chunked body read line by line, written apart from `BodyDecoder`'s byte-at-a-time
/// state machine: Ok((body, consumed)), Err(Some(status)), or Err(None) when the input
/// ends first.
fn reference_chunked(input: &[u8], max_body: u64) -> Result<(Vec<u8>, usize), Option<u16>> {
    const BAD: Option<u16> = Some(400);
    let byte = |i: usize| input.get(i).copied().ok_or(None);
    let mut body = Vec::new();
    let mut total: u64 = 0;
    let mut i = 0;
    loop {
        // chunk-size [ BWS ";" extensions ] CRLF, at most MAX_CHUNK_LINE bytes with the
        // CR. A byte is only judged once it arrived.
        let line_start = i;
        let line_byte = |i: usize| {
            let b = byte(i)?;
            if i - line_start >= MAX_CHUNK_LINE {
                return Err(BAD);
            }
            Ok(b)
        };
        let mut size: u64 = 0;
        loop {
            let b = line_byte(i)?;
            let Some(digit) = (b as char).to_digit(16) else {
                break;
            };
            size = size.checked_mul(16).ok_or(BAD)? + u64::from(digit);
            i += 1;
        }
        if i == line_start {
            return Err(BAD); // no digits
        }
        let mut b = line_byte(i)?;
        if b == b' ' || b == b'\t' {
            while b == b' ' || b == b'\t' {
                i += 1;
                b = line_byte(i)?;
            }
            if b != b';' {
                return Err(BAD); // whitespace must lead to an extension
            }
        }
        if b == b';' {
            loop {
                i += 1;
                b = line_byte(i)?;
                if b == b'\r' || !is_field_content(b) {
                    break;
                }
            }
        }
        if b != b'\r' {
            return Err(BAD);
        }
        total = total.checked_add(size).ok_or(Some(413))?;
        if total > max_body {
            return Err(Some(413));
        }
        if byte(i + 1)? != b'\n' {
            return Err(BAD);
        }
        i += 2;
        if size == 0 {
            break;
        }
        // chunk-data CRLF
        let end = i
            .checked_add(usize::try_from(size).map_err(|_| None)?)
            .ok_or(None)?;
        if end > input.len() {
            return Err(None);
        }
        body.extend_from_slice(&input[i..end]);
        i = end;
        if byte(i)? != b'\r' {
            return Err(BAD);
        }
        if byte(i + 1)? != b'\n' {
            return Err(BAD);
        }
        i += 2;
    }
    // Trailer field lines, then CRLF. Every byte of the field lines counts towards
    // MAX_TRAILER_BYTES (CRLF included); one more is 431.
    let mut counted = 0;
    let mut count = || -> Result<(), Option<u16>> {
        if counted >= MAX_TRAILER_BYTES {
            return Err(Some(431));
        }
        counted += 1;
        Ok(())
    };
    loop {
        let b = byte(i)?;
        if b == b'\r' {
            return if byte(i + 1)? == b'\n' {
                Ok((body, i + 2))
            } else {
                Err(BAD)
            };
        }
        if !is_tchar(b) {
            return Err(BAD);
        }
        count()?;
        i += 1;
        loop {
            let b = byte(i)?;
            count()?;
            i += 1;
            if b == b':' {
                break;
            }
            if !is_tchar(b) {
                return Err(BAD);
            }
        }
        loop {
            let b = byte(i)?;
            count()?;
            i += 1;
            if b == b'\r' {
                break;
            }
            if !is_field_content(b) {
                return Err(BAD);
            }
        }
        let b = byte(i)?;
        if b != b'\n' {
            return Err(BAD);
        }
        count()?;
        i += 1;
    }
}

/// The server's read loop over `stream` cut at `cuts`. With `whole` (one read), each
/// body is also checked against the references.
fn serve(stream: &[u8], cuts: &[usize], limits: Limits, whole: bool) -> Outcome {
    let mut parser = RequestParser::with_limits(limits);
    assert_eq!(parser.limits().max_headers, limits.max_headers.min(100));
    let mut requests = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    // Stream offset of buf[0].
    let mut offset = 0;
    let mut body: Option<(BodyDecoder, Request)> = None;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            if let Some((decoder, request)) = &mut body {
                let out = match decoder.decode(&buf) {
                    Ok(out) => out,
                    Err(error) => {
                        assert!(matches!(error.status, 400 | 413 | 431), "{error:?}");
                        if error.status == 413 {
                            assert!(limits.max_body < u64::MAX);
                        }
                        check_response(&error);
                        return Outcome {
                            requests,
                            end: End::Error(error.status),
                        };
                    }
                };
                assert!(out.consumed <= buf.len(), "consumed past the input");
                assert!(out.body.start <= out.body.end && out.body.end <= out.consumed);
                assert_eq!(out.done, decoder.is_done());
                if !out.done && out.consumed < buf.len() {
                    // One body range per call: it stops after a piece of data.
                    assert!(!out.body.is_empty() && out.body.end == out.consumed);
                }
                assert!(
                    out.consumed > 0 || out.done || buf.is_empty(),
                    "no progress"
                );
                request.body.extend_from_slice(&buf[out.body.clone()]);
                buf.drain(..out.consumed);
                offset += out.consumed;
                if !out.done {
                    if buf.is_empty() {
                        break;
                    }
                    continue;
                }
                let (_, request) = body.take().unwrap();
                let keep_alive = request.keep_alive;
                requests.push(request);
                if !keep_alive {
                    return Outcome {
                        requests,
                        end: End::Close,
                    };
                }
                continue;
            }
            let (head, n) = match parser.parse_head(&buf) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    assert!(buf.len() < limits.max_head_bytes);
                    break;
                }
                Err(error) => {
                    check_head_error(&error, &buf, &limits);
                    return Outcome {
                        requests,
                        end: End::Error(error.status),
                    };
                }
            };
            assert!(n <= buf.len());
            check_head(&head, &buf[..n], &limits);
            let decoder = match parser.body_decoder(&head) {
                Ok(decoder) => decoder,
                Err(error) => panic!("body_decoder refused a head parse_head accepted: {error:?}"),
            };
            let request = Request {
                at: offset,
                head_len: n,
                method: head.method().to_string(),
                url: head.url().to_string(),
                query: head.query().to_string(),
                version: head.version(),
                headers: head
                    .headers()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                framing: head.framing(),
                keep_alive: head.keep_alive(),
                expect_continue: head.expect_continue(),
                websocket: head.is_websocket_upgrade(),
                body: Vec::new(),
            };
            buf.drain(..n);
            offset += n;
            if whole {
                check_body(&head, &buf, limits.max_body);
            }
            body = Some((decoder, request));
        }
    }
    Outcome {
        requests,
        end: End::Eof {
            in_body: body.is_some(),
            pending: buf.len(),
        },
    }
}

/// With all the rest of the stream in `rest`: what the decoder makes of the body must
/// be what the references make of it.
fn check_body(head: &RequestHead, rest: &[u8], max_body: u64) {
    let mut decoder = BodyDecoder::with_limit(head.framing(), max_body).expect("accepted head");
    let mut body = Vec::new();
    let mut at = 0;
    let result = loop {
        match decoder.decode(&rest[at..]) {
            Err(error) => break Err(Some(error.status)),
            Ok(out) => {
                body.extend_from_slice(&rest[at + out.body.start..at + out.body.end]);
                at += out.consumed;
                if out.done {
                    break Ok((body, at));
                }
                if at == rest.len() {
                    break Err(None);
                }
                assert!(out.consumed > 0, "no progress");
            }
        }
    };
    let expected = match head.framing() {
        BodyFraming::Empty => Ok((Vec::new(), 0)),
        BodyFraming::Length(n) => match usize::try_from(n) {
            Ok(n) if n <= rest.len() => Ok((rest[..n].to_vec(), n)),
            _ => Err(None),
        },
        BodyFraming::Chunked => reference_chunked(rest, max_body),
    };
    assert_eq!(result, expected, "{:?} body", head.framing());
}

fuzz_target!(|data: &[u8]| {
    let [limits, cut_count, data @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_head_bytes: HEAD_BYTES[usize::from(limits & 3)],
        max_request_line: REQUEST_LINE[usize::from(limits >> 2 & 3)],
        max_headers: HEADERS[usize::from(limits >> 4 & 3)],
        max_body: BODY[usize::from(limits >> 6)],
    };
    let cut_count = usize::from(cut_count & 15).min(data.len() / 2);
    let (raw_cuts, stream) = data.split_at(cut_count * 2);
    let raw_cuts: Vec<u16> = raw_cuts
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let cuts = cut_points(&raw_cuts, stream.len());

    let whole = serve(stream, &[], limits, true);
    let split = serve(stream, &cuts, limits, false);
    assert_eq!(split, whole, "cut at {cuts:?}");
});
