use super::*;
use crate::protocol::frame::encode_frame;

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

fn text(data: &str) -> Event {
    Event::Message {
        binary: false,
        data: data.as_bytes().to_vec(),
    }
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
    receiver
        .receive(&mut frame(OpCode::Binary, true, b"abc"), &mut recorder)
        .unwrap();
    // Split frame: assembled into an owned buffer.
    let split = frame(OpCode::Binary, true, b"defgh");
    receiver
        .receive(&mut split[..4].to_vec(), &mut recorder)
        .unwrap();
    assert_eq!(receiver.buffered_len(), 4);
    receiver
        .receive(&mut split[4..].to_vec(), &mut recorder)
        .unwrap();
    // Fragmented: owned.
    let fragmented = [
        frame(OpCode::Binary, false, b"i"),
        frame(OpCode::Continuation, true, b"j"),
    ];
    receiver
        .receive(&mut fragmented.concat(), &mut recorder)
        .unwrap();
    assert_eq!(recorder.owned, [false, true, true]);
    assert_eq!(receiver.buffered_len(), 0);
}

#[test]
fn buffered_len_counts_partial_frame_and_fragments() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    receiver
        .receive(&mut frame(OpCode::Text, false, b"abc"), &mut recorder)
        .unwrap();
    assert_eq!(receiver.buffered_len(), 3);
    let next = frame(OpCode::Continuation, true, b"defg");
    receiver
        .receive(&mut next[..3].to_vec(), &mut recorder)
        .unwrap();
    assert_eq!(receiver.buffered_len(), 3 + 3);
    receiver
        .receive(&mut next[3..8].to_vec(), &mut recorder)
        .unwrap();
    assert_eq!(receiver.buffered_len(), 3 + 2);
    receiver
        .receive(&mut next[8..].to_vec(), &mut recorder)
        .unwrap();
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
        receiver
            .receive(&mut chunk.to_vec(), &mut recorder)
            .unwrap();
    }
    assert_eq!(recorder.events.len(), 1);
    assert!(receiver.frame_payload.capacity() <= KEEP_CAPACITY);
    assert!(receiver.fragments.capacity() <= KEEP_CAPACITY);
}

#[test]
fn receiver_is_small() {
    assert!(
        std::mem::size_of::<Receiver>() <= 128,
        "{}",
        std::mem::size_of::<Receiver>()
    );
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
fn utf8_rules() {
    expect_error(&frame(OpCode::Text, true, &[0xC0, 0xAF]), 1007);
    expect_error(&frame(OpCode::Text, true, &[b'a', 0xE2, 0x82]), 1007);
    let incomplete_end = [
        frame(OpCode::Text, false, b"a"),
        frame(OpCode::Continuation, true, &[0xE2, 0x82]),
    ];
    expect_error(&incomplete_end.concat(), 1007);
    // Binary payloads are not validated.
    let (result, _) = feed_all(&frame(OpCode::Binary, true, &[0xFF, 0xC0]));
    result.unwrap();
}

#[test]
fn masking_rules_per_role() {
    let mut unmasked = Vec::new();
    encode_frame(&mut unmasked, OpCode::Text, true, b"hi", None);
    expect_error(&unmasked, 1002);

    let mut client = Receiver::new(Role::Client, 1 << 20);
    let mut recorder = Recorder::default();
    let error = client.receive(&mut frame(OpCode::Text, true, b"hi"), &mut recorder);
    assert_eq!(error.unwrap_err().code, 1002);
}

#[test]
fn reserved_bits_and_opcodes() {
    for first_byte in [0xC2, 0xA2, 0x92, 0xC1, 0xC8] {
        expect_error(&raw_frame(first_byte, b"x"), 1002);
    }
    for opcode in (3..=7).chain(11..=15) {
        expect_error(&raw_frame(0x80 | opcode, b""), 1002);
    }
}

#[test]
fn rsv1_allowed_only_on_first_data_frame() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    receiver.set_rsv1_allowed(true);
    let mut recorder = Recorder::default();
    // Compressed text is delivered as is, without UTF-8 validation.
    let mut compressed = raw_frame(0xC1, &[0xFF, 0x00]);
    receiver.receive(&mut compressed, &mut recorder).unwrap();
    let mut first = raw_frame(0x41, b"a");
    receiver.receive(&mut first, &mut recorder).unwrap();
    let mut continuation = raw_frame(0xC0, b"b");
    let error = receiver
        .receive(&mut continuation, &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1002);
    assert_eq!(recorder.events.len(), 1);

    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    receiver.set_rsv1_allowed(true);
    let error = receiver
        .receive(&mut raw_frame(0xC9, b""), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1002, "RSV1 on a control frame");
}

#[test]
fn control_frame_rules() {
    expect_error(&frame(OpCode::Ping, true, &[0; 126]), 1002);
    expect_error(&frame(OpCode::Ping, false, b""), 1002);
    let (result, events) = feed_all(&frame(OpCode::Ping, true, &[1; 125]));
    result.unwrap();
    assert_eq!(events, [Event::Ping(vec![1; 125])]);
}

#[test]
fn continuation_and_interleaving_rules() {
    expect_error(&frame(OpCode::Continuation, true, b"x"), 1002);
    let new_message_mid_fragment = [
        frame(OpCode::Text, false, b"a"),
        frame(OpCode::Binary, true, b"b"),
    ];
    expect_error(&new_message_mid_fragment.concat(), 1002);
    let interleaved_ping = [
        frame(OpCode::Binary, false, b"a"),
        frame(OpCode::Ping, true, b"p"),
        frame(OpCode::Continuation, true, b"b"),
    ];
    let (result, events) = feed_all(&interleaved_ping.concat());
    result.unwrap();
    let binary = Event::Message {
        binary: true,
        data: b"ab".to_vec(),
    };
    assert_eq!(events, [Event::Ping(b"p".to_vec()), binary]);
}

#[test]
fn length_with_top_bit_set_is_a_protocol_error() {
    let header = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    expect_error(&header, 1002);
}

#[test]
fn oversize_fails_at_the_header() {
    let mut receiver = Receiver::new(Role::Server, 100);
    let mut recorder = Recorder::default();
    let stream = frame(OpCode::Binary, true, &[0; 101]);
    let error = receiver
        .receive(&mut stream[..8].to_vec(), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1009);
    assert_eq!(receiver.buffered_len(), 0);

    // The limit counts the fragments already assembled.
    let mut receiver = Receiver::new(Role::Server, 100);
    receiver
        .receive(&mut frame(OpCode::Binary, false, &[0; 60]), &mut recorder)
        .unwrap();
    let next = frame(OpCode::Continuation, true, &[0; 41]);
    let error = receiver
        .receive(&mut next[..6].to_vec(), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1009);

    // Exactly at the limit is fine; a huge announced length never allocates.
    let mut receiver = Receiver::new(Role::Server, 100);
    receiver
        .receive(&mut frame(OpCode::Binary, true, &[0; 100]), &mut recorder)
        .unwrap();
    receiver.set_max_payload_length(1 << 40);
    let huge = [0x82, 0xFF, 0, 0, 0x7F, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    let error = receiver.receive(&mut huge.to_vec(), &mut recorder);
    assert_eq!(error.map_err(|e| e.code), Err(1009));
}

#[test]
fn close_frame_rules() {
    expect_error(&frame(OpCode::Close, true, &[0x03]), 1002);
    for code in [999u16, 1004, 1005, 1006, 1012, 1015, 2999, 5000] {
        expect_error(&frame(OpCode::Close, true, &code.to_be_bytes()), 1002);
    }
    expect_error(&frame(OpCode::Close, true, &[0x03, 0xE8, 0xFF]), 1007);

    let (result, events) = feed_all(&frame(OpCode::Close, true, b""));
    result.unwrap();
    assert_eq!(events, [Event::Close(None, vec![])]);

    // Input after a close frame is ignored.
    let stream = [
        frame(OpCode::Close, true, &[0x0B, 0xB8]),
        frame(OpCode::Text, true, b"late"),
    ]
    .concat();
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    receiver
        .receive(&mut stream.clone(), &mut recorder)
        .unwrap();
    receiver
        .receive(&mut stream.clone(), &mut recorder)
        .unwrap();
    assert!(receiver.is_closed());
    assert_eq!(recorder.events, [Event::Close(Some(3000), vec![])]);
}

#[test]
fn zero_length_frames_and_messages() {
    let stream = [
        frame(OpCode::Text, true, b""),
        frame(OpCode::Binary, false, b""),
        frame(OpCode::Continuation, true, b""),
        frame(OpCode::Ping, true, b""),
    ]
    .concat();
    let (result, events) = feed_bytewise(&stream);
    result.unwrap();
    let empty_binary = Event::Message {
        binary: true,
        data: vec![],
    };
    assert_eq!(events, [text(""), empty_binary, Event::Ping(vec![])]);
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
