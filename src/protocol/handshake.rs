//! HTTP/1.1 upgrade handshake (RFC 6455 section 4), server and client side.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::fmt::Write as _;

/// Requests whose header block does not end within this many bytes are
/// refused, bounding per-connection memory before the upgrade.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 100;

const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// As sent, e.g. "GET".
    pub method: String,
    /// Path part, without '?query'.
    pub url: String,
    /// After '?', without '?', possibly empty.
    pub query: String,
    /// Names lowercased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    pub key: String,
    /// Raw Sec-WebSocket-Protocol value (repeated headers joined) or "".
    pub protocols: String,
    /// Raw Sec-WebSocket-Extensions value (repeated headers joined) or "".
    pub extensions: String,
}

impl UpgradeRequest {
    /// First header with this (lowercase) name.
    pub fn header(&self, lowercase_name: &str) -> Option<&str> {
        find_header(&self.headers, lowercase_name)
    }

    /// The first subprotocol the client offers, if any: what a server without an opinion
    /// answers (uWS.js's default upgrade does; a client that offered protocols fails a
    /// handshake that selects none).
    pub fn first_protocol(&self) -> Option<&str> {
        let first = self.protocols.split(',').next()?.trim();
        (!first.is_empty()).then_some(first)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// 400 with the reason as body.
    BadRequest(&'static str),
    /// 405 with "Allow: GET".
    MethodNotAllowed,
    /// 426 with "Sec-WebSocket-Version: 13" (version missing or not 13).
    UpgradeRequired,
    /// 431: header block over MAX_HEADER_BYTES or more than MAX_HEADERS headers.
    HeadersTooLarge,
}

impl HandshakeError {
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::BadRequest(_) => 400,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::UpgradeRequired => 426,
            HandshakeError::HeadersTooLarge => 431,
        }
    }

    /// Full HTTP/1.1 response; the connection is closed after it.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let header = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
        let (status_line, headers, body) = match self {
            HandshakeError::BadRequest(reason) => ("400 Bad Request", vec![], *reason),
            HandshakeError::MethodNotAllowed => (
                "405 Method Not Allowed",
                header("Allow", "GET"),
                "Method Not Allowed",
            ),
            HandshakeError::UpgradeRequired => (
                "426 Upgrade Required",
                header("Sec-WebSocket-Version", "13"),
                "Upgrade Required",
            ),
            HandshakeError::HeadersTooLarge => (
                "431 Request Header Fields Too Large",
                vec![],
                "Request Header Fields Too Large",
            ),
        };
        let mut headers = headers;
        headers.push(("Content-Type".into(), "text/plain".into()));
        write_status_response(out, status_line, &headers, body.as_bytes());
    }
}

/// Ok(None) = need more bytes (and buf.len() < MAX_HEADER_BYTES); Ok(Some((req, consumed))) on a complete valid upgrade request.
pub fn parse_upgrade_request(
    buf: &[u8],
) -> Result<Option<(UpgradeRequest, usize)>, HandshakeError> {
    let mut raw_headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut raw_headers);
    let consumed = match request.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) if consumed <= MAX_HEADER_BYTES => consumed,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEADER_BYTES => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::HeadersTooLarge)
        }
        Err(_) => return Err(HandshakeError::BadRequest("Malformed HTTP request")),
    };
    let method = request.method.unwrap_or_default();
    if method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if request.version != Some(1) {
        return Err(HandshakeError::BadRequest("HTTP/1.1 required"));
    }
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_string();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect();
    let header = |name| find_header(&headers, name).unwrap_or("");
    if !has_token(header("upgrade"), "websocket") {
        return Err(HandshakeError::BadRequest("Missing Upgrade: websocket"));
    }
    if !has_token(header("connection"), "upgrade") {
        return Err(HandshakeError::BadRequest("Missing Connection: Upgrade"));
    }
    if find_header(&headers, "host").is_none() {
        return Err(HandshakeError::BadRequest("Missing Host"));
    }
    if header("sec-websocket-version") != "13" {
        return Err(HandshakeError::UpgradeRequired);
    }
    let key = header("sec-websocket-key");
    if !BASE64.decode(key).is_ok_and(|bytes| bytes.len() == 16) {
        return Err(HandshakeError::BadRequest("Invalid Sec-WebSocket-Key"));
    }
    let (url, query) = match request.path.unwrap_or("/").split_once('?') {
        Some((url, query)) => (url, query),
        None => (request.path.unwrap_or("/"), ""),
    };
    let upgrade = UpgradeRequest {
        method: method.to_string(),
        url: url.to_string(),
        query: query.to_string(),
        key: key.to_string(),
        protocols: joined_header(&headers, "sec-websocket-protocol"),
        extensions: joined_header(&headers, "sec-websocket-extensions"),
        headers,
    };
    Ok(Some((upgrade, consumed)))
}

/// base64(SHA1(key + GUID)), the value of Sec-WebSocket-Accept.
pub fn accept_key(key: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(key.as_bytes());
    context.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(context.finish())
}

/// The 101 response, with optional subprotocol, extensions and extra headers.
pub fn write_accept_response(
    out: &mut Vec<u8>,
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(String, String)],
) {
    let mut head = String::with_capacity(160);
    head.push_str(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let _ = write!(head, "Sec-WebSocket-Accept: {}\r\n", accept_key(key));
    if let Some(protocol) = protocol {
        let _ = write!(head, "Sec-WebSocket-Protocol: {protocol}\r\n");
    }
    if let Some(extensions) = extensions {
        let _ = write!(head, "Sec-WebSocket-Extensions: {extensions}\r\n");
    }
    for (name, value) in extra_headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
}

/// A non-101 response (e.g. "404 Not Found") ending the connection.
/// Connection and Content-Length are always set here, so caller-supplied
/// copies are skipped rather than duplicated.
pub fn write_status_response(
    out: &mut Vec<u8>,
    status_line: &str,
    headers: &[(String, String)],
    body: &[u8],
) {
    let mut head = format!("HTTP/1.1 {status_line}\r\n");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "Connection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// A client upgrade request (for tests and the load generator).
pub fn client_request(
    host: &str,
    path: &str,
    key: &str,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra_headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    fastrand::fill(&mut nonce);
    BASE64.encode(nonce)
}

/// Ok(None) = need more; Ok(Some(consumed)) when a 101 with matching accept was parsed; Err(status or reason) otherwise
pub fn parse_client_response(buf: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut raw_headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut raw_headers);
    let consumed = match response.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEADER_BYTES => return Ok(None),
        Ok(httparse::Status::Partial) => return Err("response headers too large".into()),
        Err(error) => return Err(format!("malformed response: {error}")),
    };
    if response.code != Some(101) {
        let code = response.code.unwrap_or(0);
        let reason = response.reason.unwrap_or("");
        return Err(format!("{code} {reason}").trim_end().to_string());
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
            .unwrap_or_default()
    };
    if !has_token(&header("upgrade"), "websocket") || !has_token(&header("connection"), "upgrade") {
        return Err("missing Upgrade/Connection headers".into());
    }
    if header("sec-websocket-accept") != accept_key(key) {
        return Err("invalid Sec-WebSocket-Accept".into());
    }
    Ok(Some(consumed))
}

fn find_header<'a>(headers: &'a [(String, String)], lowercase_name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(name, _)| name == lowercase_name)
        .map(|(_, value)| value.as_str())
}

/// Values of a header that may be repeated, joined as one list.
fn joined_header(headers: &[(String, String)], lowercase_name: &str) -> String {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == lowercase_name)
        .map(|(_, value)| value.as_str())
        .collect();
    values.join(", ")
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests;
