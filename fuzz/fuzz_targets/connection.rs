//! A whole server-side connection over the sans-I/O core, as src/server/connection.rs
//! drives it: the bytes arrive in reads of a chosen size; the upgrade request is parsed
//! as it accumulates (parse_upgrade_request), then the bytes after it and every later
//! read go to a server Receiver with a small payload limit. Checked: no panic; the
//! receiver never holds more than the limit plus one control frame's payload (or a
//! partial header); every CloseError has a code close.rs allows; and what the server
//! would write back (pongs, the close frame for an error or echoing the peer's) is
//! read back by a client-side Receiver as exactly those frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsws::protocol::close::{is_valid_close_code, NO_STATUS};
use rsws::protocol::handshake::MAX_HEADER_BYTES;
use rsws::protocol::{
    encode_close_payload, encode_frame, parse_upgrade_request, Handler, OpCode, Payload, Receiver,
    Role, MAX_HEADER_LEN,
};
use rsws_fuzz::{check_close_error, Event, Recorder};

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

fuzz_target!(|data: &[u8]| {
    let [limit, read_size, data @ ..] = data else {
        return;
    };
    // Small limits, so messages hit them.
    let max_payload = *limit as usize * 4;
    let read_size = 1 + *read_size as usize * 16;
    let mut reads = data.chunks(read_size);

    // The upgrade request, parsed as it accumulates.
    let mut partial = Vec::new();
    let mut leftover = loop {
        let Some(read) = reads.next() else {
            return; // the peer left mid-request
        };
        partial.extend_from_slice(read);
        match parse_upgrade_request(&partial) {
            Ok(Some((request, consumed))) => {
                assert!(consumed <= partial.len() && consumed <= MAX_HEADER_BYTES);
                assert_eq!(request.key.len(), 24);
                break partial[consumed..].to_vec();
            }
            Ok(None) => assert!(partial.len() < MAX_HEADER_BYTES),
            Err(error) => {
                let mut out = Vec::new();
                error.write_response(&mut out);
                assert!(out.starts_with(format!("HTTP/1.1 {} ", error.status()).as_bytes()));
                return;
            }
        }
    };

    // The WebSocket phase: the bytes after the request first, then each read.
    let mut receiver = Receiver::new(Role::Server, max_payload);
    let mut server = Server::default();
    let bound = max_payload + MAX_HEADER_LEN.max(125);
    let mut error = None;
    let mut pieces = std::iter::once(&mut leftover[..]);
    let mut rest: Vec<Vec<u8>> = reads.map(<[u8]>::to_vec).collect();
    for read in pieces.by_ref().chain(rest.iter_mut().map(|r| &mut r[..])) {
        let result = receiver.receive(read, &mut server);
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

    // The server's answer, as src/server/connection.rs writes it.
    if let Some(e) = error {
        close_frame(&mut server, e.code, e.reason.as_bytes());
    } else if let Some((code, _)) = server.peer_close.take() {
        assert!(code == NO_STATUS || is_valid_close_code(code));
        close_frame(&mut server, if code == NO_STATUS { 0 } else { code }, b"");
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
