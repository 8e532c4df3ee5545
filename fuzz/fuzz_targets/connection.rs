//! A whole server-side connection over the sans-I/O core, as src/server/http/task.rs
//! and src/server/connection.rs drive it, without sockets. The bytes arrive in reads
//! of a chosen size.
//!
//! HTTP phase: requests are read with the http1 `RequestParser` as they accumulate.
//! The app has one `.ws()` route (every path, or only paths under `/ws`) and no HTTP
//! route, so a request for the `.ws()` route is handed to the WebSocket path (a bad
//! handshake refused there), and any other gets the 404 from the HTTP phase: its body
//! is read and dropped and the next request follows, unless it asked for a WebSocket or
//! no keep-alive (then the connection closes). A refused head closes after its error
//! response.
//!
//! Upgrade: `request::upgrade_request` checks the head; permessage-deflate is
//! negotiated with the route's compression option when the request offers it, and the
//! 101 must satisfy a client (`parse_client_response`).
//!
//! WebSocket phase: the bytes after the request (a GET's body included, as on the real
//! path) and every later read go to a server Receiver with a small payload limit and
//! the negotiated inflater; with config bit 4, what fits goes straight into the room the
//! receiver offers for a frame's missing payload, as the connection reads large frames.
//! Checked: no panic; the receiver never holds more than the
//! limit plus one control frame's payload (or a partial header), and the heap grows by
//! at most a few limits plus zlib's state during a receive; messages within the limit,
//! text valid UTF-8 after inflation; every CloseError has a code close.rs allows; what
//! the server writes back (a pong per ping, then the close frame for the error or the
//! echo of the peer's close) is read by a client Receiver as exactly those frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsws::protocol::close::{is_valid_close_code, NO_STATUS};
use rsws::protocol::deflate::{negotiate, options, Negotiated};
use rsws::protocol::handshake::MAX_HEADER_BYTES;
use rsws::protocol::http1::{BodyDecoder, RequestParser};
use rsws::protocol::{
    encode_close_payload, encode_frame, parse_client_response, write_accept_response, CloseError,
    Handler, OpCode, Payload, Receiver, Role, MAX_HEADER_LEN,
};
use rsws::server::http::request::{asks_for_websocket, upgrade_request};
use rsws_fuzz::{check_close_error, heap, Event, Recorder};

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

/// The route's `compression` option (config bits 0-2).
const COMPRESSION: [u32; 8] = [
    options::DISABLED,
    options::SHARED_COMPRESSOR,
    options::SHARED_COMPRESSOR | options::SHARED_DECOMPRESSOR,
    options::DEDICATED_COMPRESSOR_3KB,
    options::DEDICATED_COMPRESSOR_4KB | options::DEDICATED_DECOMPRESSOR_512B,
    options::DEDICATED_COMPRESSOR_8KB | options::DEDICATED_DECOMPRESSOR_1KB,
    options::DEDICATED_COMPRESSOR | options::DEDICATED_DECOMPRESSOR,
    options::SHARED_COMPRESSOR | options::DEDICATED_DECOMPRESSOR_4KB,
];

/// Heap a receive may take besides the limits: zlib-rs's inflate state and window.
const HEAP_SLACK: usize = 256 * 1024;

/// The server's Handler: answers pings, remembers the peer's close.
#[derive(Default)]
struct Server {
    recorder: Recorder,
    /// Frames the server writes back.
    replies: Vec<u8>,
    expected_replies: Vec<Event>,
    peer_close: Option<(u16, Vec<u8>)>,
}

impl Handler for Server {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        self.recorder.message(binary, payload);
    }

    fn ping(&mut self, payload: &[u8]) {
        self.recorder.ping(payload);
        encode_frame(&mut self.replies, OpCode::Pong, true, payload, None);
        self.expected_replies.push(Event::Pong(payload.to_vec()));
    }

    fn pong(&mut self, payload: &[u8]) {
        self.recorder.pong(payload);
    }

    fn close(&mut self, code: Option<u16>, reason: &[u8]) {
        self.recorder.close(code, reason);
        self.peer_close = Some((code.unwrap_or(NO_STATUS), reason.to_vec()));
    }
}

/// What send_close writes, and what a client must read from it.
fn close_frame(server: &mut Server, code: u16, reason: &[u8]) {
    let mut payload = [0u8; 125];
    let n = encode_close_payload(code, reason, &mut payload);
    encode_frame(
        &mut server.replies,
        OpCode::Close,
        true,
        &payload[..n],
        None,
    );
    server.expected_replies.push(Event::Close {
        code: (code != 0).then_some(code),
        reason: payload[2.min(n)..n].to_vec(),
    });
}

/// A refusal's response: HTTP/1.1 with its status, closing the connection.
fn check_refusal(response: &[u8], status: u16) {
    assert!(
        response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(response)
    );
    assert!(response
        .windows(19)
        .any(|w| w.eq_ignore_ascii_case(b"connection: close\r\n")));
}

/// The HTTP phase. Some((request, the bytes after it, the reads left)) for a request
/// handed to the WebSocket path; None when the connection ended here.
fn http_phase<'a>(
    reads: &mut impl Iterator<Item = &'a [u8]>,
    ws_everywhere: bool,
    read_size: usize,
) -> Option<(rsws::protocol::UpgradeRequest, Vec<u8>)> {
    let mut parser = RequestParser::new();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read until a complete head.
        let head = loop {
            if !buf.is_empty() {
                match parser.parse_head(&buf) {
                    Ok(Some((head, used))) => {
                        assert!(used <= buf.len() && used <= MAX_HEADER_BYTES);
                        buf.drain(..used);
                        break head;
                    }
                    Ok(None) => assert!(buf.len() < MAX_HEADER_BYTES),
                    Err(error) => {
                        check_refusal(&error.response_bytes(), error.status);
                        return None;
                    }
                }
            }
            assert!(buf.len() < MAX_HEADER_BYTES + read_size);
            buf.extend_from_slice(reads.next()?); // None: the peer left
        };
        let wants_ws = asks_for_websocket(&head);
        let ws_route = ws_everywhere || head.url().starts_with("/ws");
        if ws_route {
            // No HTTP route: every request for the .ws() path is an upgrade (or refused
            // as a bad one).
            return match upgrade_request(&head) {
                Ok(request) => {
                    assert_eq!(request.key.len(), 24);
                    assert_eq!(request.method, "GET");
                    Some((request, buf))
                }
                Err(error) => {
                    let mut out = Vec::new();
                    error.write_response(&mut out);
                    check_refusal(&out, error.status());
                    None
                }
            };
        }
        // The 404 from the HTTP phase; an upgrade nobody takes, or a request without
        // keep-alive, closes after it.
        if wants_ws || !head.keep_alive() {
            return None;
        }
        // Its body is read and dropped.
        let mut decoder = BodyDecoder::new(head.framing());
        while !decoder.is_done() {
            if buf.is_empty() {
                buf.extend_from_slice(reads.next()?);
            }
            match decoder.decode(&buf) {
                Ok(step) => {
                    assert!(step.consumed <= buf.len() && step.body.end <= step.consumed);
                    buf.drain(..step.consumed);
                }
                Err(_) => return None, // the 404 went out: the connection just ends
            }
        }
    }
}

/// One read, as the connection takes it. With `direct`, as much as fits goes into the
/// room the receiver offers for a frame's missing payload (`direct_target`, offered here
/// from 1 byte missing on), the rest through `receive`.
fn feed(
    receiver: &mut Receiver,
    mut read: &mut [u8],
    direct: bool,
    server: &mut Server,
) -> Result<(), CloseError> {
    while direct && !read.is_empty() {
        let Some(room) = receiver.direct_target(1) else {
            break;
        };
        let n = room.len().min(read.len());
        for (slot, byte) in room.iter_mut().zip(&read[..n]) {
            slot.write(*byte);
        }
        // SAFETY: the first n bytes of the room were just written.
        unsafe { receiver.receive_direct(n, server) }?;
        read = &mut read[n..];
    }
    if read.is_empty() {
        return Ok(());
    }
    receiver.receive(read, server)
}

fuzz_target!(|data: &[u8]| {
    let [limit, read_size, config, data @ ..] = data else {
        return;
    };
    // Small limits, so messages hit them.
    let max_payload = *limit as usize * 4;
    let read_size = 1 + *read_size as usize * 16;
    let compression = COMPRESSION[usize::from(config & 7)];
    let ws_everywhere = config & 8 == 0;
    let direct = config & 16 != 0;
    let mut reads = data.chunks(read_size);

    let Some((request, mut leftover)) = http_phase(&mut reads, ws_everywhere, read_size) else {
        return;
    };

    // The 101, with permessage-deflate when offered and enabled.
    let negotiated: Option<Negotiated> = (compression != 0 && !request.extensions.is_empty())
        .then(|| negotiate(compression, &request.extensions))
        .flatten();
    if let Some(n) = &negotiated {
        assert!(request
            .extensions
            .to_ascii_lowercase()
            .contains("permessage-deflate"));
        assert!(n.response_header.starts_with("permessage-deflate"));
        assert!((8..=15).contains(&n.client_max_window_bits));
        assert!((8..=15).contains(&n.server_max_window_bits));
    }
    let mut response = Vec::new();
    write_accept_response(
        &mut response,
        &request.key,
        None,
        negotiated.as_ref().map(|n| n.response_header.as_str()),
        &[],
    );
    assert_eq!(
        parse_client_response(&response, &request.key),
        Ok(Some(response.len()))
    );

    // The WebSocket phase: the bytes after the request first, then each read.
    let mut receiver = Receiver::new(Role::Server, max_payload);
    receiver.set_inflater(negotiated.as_ref().map(Negotiated::inflater));
    let mut server = Server::default();
    let bound = max_payload + MAX_HEADER_LEN.max(125);
    let heap_bound = 5 * max_payload + HEAP_SLACK;
    let mut error = None;
    let mut rest: Vec<Vec<u8>> = reads.map(<[u8]>::to_vec).collect();
    let pieces = std::iter::once(&mut leftover[..]).chain(rest.iter_mut().map(|r| &mut r[..]));
    for read in pieces {
        let read_len = read.len();
        let heap_start = heap::start();
        let result = feed(&mut receiver, read, direct, &mut server);
        if let Some(growth) = heap::peak_growth(heap_start) {
            assert!(
                growth <= heap_bound + read_len,
                "heap grew by {growth} in a receive of {read_len} bytes"
            );
        }
        assert!(
            receiver.buffered_len() <= bound,
            "receiver holds {} bytes, limit {max_payload}",
            receiver.buffered_len()
        );
        if let Err(e) = result {
            check_close_error(&e);
            error = Some(e);
            break;
        }
        if server.peer_close.is_some() {
            break;
        }
    }
    for event in &server.recorder.events {
        if let Event::Message { data, .. } = event {
            assert!(data.len() <= max_payload, "message over the limit");
        }
    }

    // The server's answer, as src/server/connection.rs writes it: the error's close
    // frame, or the peer's code and reason echoed (an empty close answered empty).
    if let Some(e) = error {
        close_frame(&mut server, e.code, e.reason.as_bytes());
    } else if let Some((code, reason)) = server.peer_close.take() {
        assert!(code == NO_STATUS || is_valid_close_code(code));
        let echo = if code == NO_STATUS { 0 } else { code };
        close_frame(&mut server, echo, &reason);
    }
    let mut client = Receiver::new(Role::Client, usize::MAX);
    let mut seen = Recorder::default();
    let replies_len = server.replies.len();
    client
        .receive(&mut server.replies, &mut seen)
        .expect("the server's frames are valid");
    assert_eq!(seen.events, server.expected_replies, "{replies_len} bytes");
    assert_eq!(client.buffered_len(), 0);
});
