//! Requests as JS reads them, and requests handed to the WebSocket upgrade.

use crate::protocol::handshake::{HandshakeError, UpgradeRequest};
use crate::protocol::http1::{list_members, RequestHead, Version};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::net::SocketAddr;

/// HTTP_REQUEST `flags`.
pub mod flag {
    /// A body follows (Content-Length > 0 or chunked): JS answers with a BODY record.
    pub const HAS_BODY: u8 = 1;
    /// HEAD: the response carries no body.
    pub const HEAD: u8 = 2;
}

pub fn flags(head: &RequestHead, has_body: bool) -> u8 {
    let mut f = 0;
    if has_body {
        f |= flag::HAS_BODY;
    }
    if head.is_head() {
        f |= flag::HEAD;
    }
    f
}

/// The HTTP_REQUEST payload, mirrored in `lib/http.js`:
/// `u32 serial | u8 route count | (u16 route | u8 param count | params)* | method | url |
/// query | u16 header count | (name | value)* | 16-byte address | u16 port`, strings as
/// `u16 length | bytes`.
pub fn encode(
    head: &RequestHead,
    routes: &[(usize, Vec<String>)],
    serial: u32,
    peer: SocketAddr,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + head.header_count() * 32 + head.url().len());
    out.extend_from_slice(&serial.to_le_bytes());
    let routes = &routes[..routes.len().min(u8::MAX as usize)];
    out.push(routes.len() as u8);
    for (route, params) in routes {
        out.extend_from_slice(&(*route as u16).to_le_bytes());
        let params = &params[..params.len().min(u8::MAX as usize)];
        out.push(params.len() as u8);
        for p in params {
            put_str(&mut out, p);
        }
    }
    for s in [head.method(), head.url(), head.query()] {
        put_str(&mut out, s);
    }
    out.extend_from_slice(&(head.header_count() as u16).to_le_bytes());
    for (name, value) in head.headers() {
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    out.extend_from_slice(&crate::server::app::address_bytes(peer));
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Heads are at most 16 KiB, so every piece fits.
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The request names the WebSocket protocol in `Upgrade` (whatever else is wrong with
/// it: the handshake then refuses it as before).
pub fn asks_for_websocket(head: &RequestHead) -> bool {
    head.header_values("upgrade")
        .any(|v| list_members(v.as_bytes()).any(|p| p.eq_ignore_ascii_case(b"websocket")))
}

fn has_token(head: &RequestHead, name: &str, token: &str) -> bool {
    head.header_values(name)
        .any(|v| list_members(v.as_bytes()).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// Checks a head as a WebSocket upgrade (RFC 6455 section 4.2.1), with the same answers
/// as `handshake::parse_upgrade_request`, which reads the same requests from raw bytes.
pub fn upgrade_request(head: &RequestHead) -> Result<UpgradeRequest, HandshakeError> {
    if head.method() != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if head.version() != Version::Http11 {
        return Err(HandshakeError::BadRequest("HTTP/1.1 required"));
    }
    if !has_token(head, "upgrade", "websocket") {
        return Err(HandshakeError::BadRequest("Missing Upgrade: websocket"));
    }
    if !has_token(head, "connection", "upgrade") {
        return Err(HandshakeError::BadRequest("Missing Connection: Upgrade"));
    }
    if head.header("host").is_none() {
        return Err(HandshakeError::BadRequest("Missing Host"));
    }
    if head.header("sec-websocket-version") != Some("13") {
        return Err(HandshakeError::UpgradeRequired);
    }
    let key = head.header("sec-websocket-key").unwrap_or("");
    if !BASE64.decode(key).is_ok_and(|bytes| bytes.len() == 16) {
        return Err(HandshakeError::BadRequest("Invalid Sec-WebSocket-Key"));
    }
    let joined = |name| head.header_values(name).collect::<Vec<_>>().join(", ");
    Ok(UpgradeRequest {
        method: head.method().to_string(),
        url: head.url().to_string(),
        query: head.query().to_string(),
        key: key.to_string(),
        protocols: joined("sec-websocket-protocol"),
        extensions: joined("sec-websocket-extensions"),
        headers: head
            .headers()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    })
}
