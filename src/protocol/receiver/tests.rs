use super::*;
use crate::protocol::deflate::compress_standalone;
use crate::protocol::frame::{encode_compressed_frame, encode_frame};

/// permessage-deflate messages.
mod compressed;
/// Reads straight into a large frame's payload (`direct_target`, `receive_direct`).
mod direct;
/// One test per framing rule, each checking its close code.
mod rules;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Message { binary: bool, data: Vec<u8> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
}

#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    owned: Vec<bool>,
}

impl Handler for Recorder {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        self.owned.push(matches!(payload, Payload::Owned(_)));
        let data = payload.into_vec();
        self.events.push(Event::Message { binary, data });
    }
    fn ping(&mut self, payload: &[u8]) {
        self.events.push(Event::Ping(payload.to_vec()));
    }
    fn pong(&mut self, payload: &[u8]) {
        self.events.push(Event::Pong(payload.to_vec()));
    }
    fn close(&mut self, code: Option<u16>, reason: &[u8]) {
        self.events.push(Event::Close(code, reason.to_vec()));
    }
}

const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A masked (client-to-server) frame.
fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, payload, Some(KEY));
    out
}

/// A masked frame with raw first-byte bits (reserved opcodes, RSV bits).
fn raw_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame(OpCode::Binary, true, payload);
    out[0] = first_byte;
    out
}

/// A masked frame with RSV1 set, as the first frame of a compressed message.
fn compressed_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_compressed_frame(&mut out, opcode, fin, payload, Some(KEY));
    out
}

/// `message` compressed on its own, as a permessage-deflate payload.
fn deflated(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress_standalone(message, 15, &mut out);
    out
}

/// A server receiver with permessage-deflate and context takeover.
fn deflate_receiver(max_payload_length: usize) -> Receiver {
    let mut receiver = Receiver::new(Role::Server, max_payload_length);
    receiver.set_inflater(Some(Inflater::new(false)));
    receiver
}

fn text(data: &str) -> Event {
    Event::Message {
        binary: false,
        data: data.as_bytes().to_vec(),
    }
}

/// Feeds a copy of `bytes` (the receiver unmasks in place), expecting no error.
fn feed(receiver: &mut Receiver, recorder: &mut Recorder, bytes: &[u8]) {
    receiver.receive(&mut bytes.to_vec(), recorder).unwrap();
}

fn feed_all(stream: &[u8]) -> (Result<(), CloseError>, Vec<Event>) {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    let result = receiver.receive(&mut stream.to_vec(), &mut recorder);
    (result, recorder.events)
}

fn feed_bytewise(stream: &[u8]) -> (Result<(), CloseError>, Vec<Event>) {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    let mut result = Ok(());
    for byte in stream {
        result = result.and(receiver.receive(&mut [*byte], &mut recorder));
    }
    (result, recorder.events)
}

fn expect_error(stream: &[u8], code: u16) {
    let (result, _) = feed_all(stream);
    assert_eq!(result.map_err(|e| e.code), Err(code), "all at once");
    let (result, _) = feed_bytewise(stream);
    assert_eq!(result.map_err(|e| e.code), Err(code), "byte by byte");
}

fn mixed_stream() -> Vec<u8> {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    [
        frame(OpCode::Text, true, "hello".as_bytes()),
        frame(OpCode::Binary, true, &big),
        frame(OpCode::Text, true, b""),
        frame(OpCode::Text, false, "κό".as_bytes()),
        frame(OpCode::Ping, true, b"p"),
        frame(OpCode::Continuation, false, b""),
        frame(OpCode::Continuation, true, "σμε".as_bytes()),
        frame(OpCode::Pong, true, b""),
        frame(OpCode::Binary, true, &big[..300]),
        frame(OpCode::Close, true, &[0x03, 0xE8, b'o', b'k']),
    ]
    .concat()
}

#[test]
fn mixed_stream_same_events_all_at_once_and_bytewise() {
    let stream = mixed_stream();
    let (result, events) = feed_all(&stream);
    result.unwrap();
    assert_eq!(events.len(), 8);
    assert_eq!(events[0], text("hello"));
    assert_eq!(events[2], text(""));
    assert_eq!(events[3], Event::Ping(b"p".to_vec()));
    assert_eq!(events[4], text("κόσμε"));
    assert_eq!(events[5], Event::Pong(vec![]));
    assert_eq!(events[7], Event::Close(Some(1000), b"ok".to_vec()));
    let (result, bytewise) = feed_bytewise(&stream);
    result.unwrap();
    assert_eq!(bytewise, events);
}

#[test]
fn random_read_sizes_give_the_same_events() {
    let stream = mixed_stream();
    let (_, expected) = feed_all(&stream);
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..50 {
        let mut receiver = Receiver::new(Role::Server, 1 << 20);
        let mut recorder = Recorder::default();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = rng.usize(1..=rest.len().min(20_000));
            receiver
                .receive(&mut rest[..n].to_vec(), &mut recorder)
                .unwrap();
            rest = &rest[n..];
        }
        assert_eq!(recorder.events, expected);
        assert!(receiver.is_closed());
    }
}

#[test]
fn payload_ownership() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    // Complete single frame: borrowed from the input.
    feed(
        &mut receiver,
        &mut recorder,
        &frame(OpCode::Binary, true, b"abc"),
    );
    // Split frame: assembled into an owned buffer.
    let split = frame(OpCode::Binary, true, b"defgh");
    feed(&mut receiver, &mut recorder, &split[..4]);
    assert_eq!(receiver.buffered_len(), 4);
    feed(&mut receiver, &mut recorder, &split[4..]);
    // Fragmented: owned.
    let fragmented = [
        frame(OpCode::Binary, false, b"i"),
        frame(OpCode::Continuation, true, b"j"),
    ];
    feed(&mut receiver, &mut recorder, &fragmented.concat());
    assert_eq!(recorder.owned, [false, true, true]);
    assert_eq!(receiver.buffered_len(), 0);
}

#[test]
fn buffered_len_counts_partial_frame_and_fragments() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    feed(
        &mut receiver,
        &mut recorder,
        &frame(OpCode::Text, false, b"abc"),
    );
    assert_eq!(receiver.buffered_len(), 3);
    let next = frame(OpCode::Continuation, true, b"defg");
    feed(&mut receiver, &mut recorder, &next[..3]);
    assert_eq!(receiver.buffered_len(), 3 + 3);
    feed(&mut receiver, &mut recorder, &next[3..8]);
    assert_eq!(receiver.buffered_len(), 3 + 2);
    feed(&mut receiver, &mut recorder, &next[8..]);
    assert_eq!(receiver.buffered_len(), 0);
    assert_eq!(recorder.events, [text("abcdefg")]);
}

#[test]
fn large_buffered_frame_releases_its_buffer() {
    let mut receiver = Receiver::new(Role::Server, usize::MAX);
    let mut recorder = Recorder::default();
    let big = vec![7u8; 100_000];
    let stream = frame(OpCode::Binary, true, &big);
    for chunk in stream.chunks(1000) {
        feed(&mut receiver, &mut recorder, chunk);
    }
    assert_eq!(recorder.events.len(), 1);
    assert!(
        receiver.partial.is_none(),
        "nothing is kept between messages"
    );
}

#[test]
fn partial_state_lives_only_while_a_frame_or_message_is_incomplete() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    feed(
        &mut receiver,
        &mut recorder,
        &frame(OpCode::Binary, true, b"whole"),
    );
    assert!(receiver.partial.is_none());
    // A header cut after one byte, then the rest.
    let split = frame(OpCode::Text, true, b"xy");
    feed(&mut receiver, &mut recorder, &split[..1]);
    assert!(receiver.partial.is_some());
    feed(&mut receiver, &mut recorder, &split[1..]);
    assert!(receiver.partial.is_none());
    // A fragmented message keeps it until its last frame.
    feed(
        &mut receiver,
        &mut recorder,
        &frame(OpCode::Text, false, b"a"),
    );
    assert!(receiver.partial.is_some());
    feed(
        &mut receiver,
        &mut recorder,
        &frame(OpCode::Continuation, true, b"b"),
    );
    assert!(receiver.partial.is_none());
    assert_eq!(recorder.events.len(), 3);
}

#[test]
fn receiver_is_small() {
    // Idle connections keep one Receiver each; keep it within two cache lines.
    let size = std::mem::size_of::<Receiver>();
    println!("size_of::<Receiver>() = {size}");
    assert!(size <= 128, "{size}");
}

#[test]
fn fragmented_text_with_code_point_split_across_fragments() {
    let bytes = "a€b".as_bytes(); // € is E2 82 AC
    let stream = [
        frame(OpCode::Text, false, &bytes[..2]),
        frame(OpCode::Continuation, false, &bytes[2..3]),
        frame(OpCode::Continuation, true, &bytes[3..]),
    ]
    .concat();
    let (result, events) = feed_all(&stream);
    result.unwrap();
    assert_eq!(events, [text("a€b")]);
}

#[test]
fn invalid_utf8_in_middle_fragment_fails_before_last_fragment() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    receiver
        .receive(&mut frame(OpCode::Text, false, b"ok"), &mut recorder)
        .unwrap();
    let error = receiver
        .receive(
            &mut frame(OpCode::Continuation, false, &[0xED, 0xA0, 0x80]),
            &mut recorder,
        )
        .unwrap_err();
    assert_eq!(error.code, 1007);
    // Further input is ignored.
    receiver
        .receive(&mut frame(OpCode::Continuation, true, b"x"), &mut recorder)
        .unwrap();
    assert!(recorder.events.is_empty());
}

#[test]
fn invalid_utf8_inside_split_frame_fails_fast() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    let mut payload = b"valid text ".to_vec();
    payload.push(0xFF);
    payload.extend_from_slice(&[b'z'; 100]);
    let stream = frame(OpCode::Text, true, &payload);
    let error = receiver
        .receive(&mut stream[..20].to_vec(), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1007);
}

#[test]
fn client_role_round_trip() {
    let mut stream = Vec::new();
    encode_frame(&mut stream, OpCode::Text, false, "server ".as_bytes(), None);
    encode_frame(
        &mut stream,
        OpCode::Continuation,
        true,
        "says hi".as_bytes(),
        None,
    );
    encode_frame(&mut stream, OpCode::Pong, true, b"p", None);
    let mut client = Receiver::new(Role::Client, 1 << 20);
    let mut recorder = Recorder::default();
    for chunk in stream.chunks(3) {
        client.receive(&mut chunk.to_vec(), &mut recorder).unwrap();
    }
    assert_eq!(
        recorder.events,
        [text("server says hi"), Event::Pong(b"p".to_vec())]
    );

    // And the masked direction, as a client would send it.
    let mut masked = Vec::new();
    encode_frame(
        &mut masked,
        OpCode::Binary,
        true,
        &[9; 1000],
        Some([1, 2, 3, 4]),
    );
    let (result, events) = feed_all(&masked);
    result.unwrap();
    let expected = Event::Message {
        binary: true,
        data: vec![9; 1000],
    };
    assert_eq!(events, [expected]);
}
