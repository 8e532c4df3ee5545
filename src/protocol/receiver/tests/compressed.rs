use super::*;
use crate::protocol::deflate::Deflater;

/// Feeds `stream` whole, byte by byte and in random pieces, to fresh
/// receivers with permessage-deflate; all three must agree. Returns the
/// result and events of the whole feed.
fn feed_compressed(stream: &[u8], max: usize) -> (Result<(), CloseError>, Vec<Event>) {
    let mut receiver = deflate_receiver(max);
    let mut recorder = Recorder::default();
    let whole = receiver.receive(&mut stream.to_vec(), &mut recorder);
    let expected = (whole, recorder.events);

    let mut receiver = deflate_receiver(max);
    let mut recorder = Recorder::default();
    let mut result = Ok(());
    for byte in stream {
        result = result.and(receiver.receive(&mut [*byte], &mut recorder));
    }
    assert_eq!((result, recorder.events), expected, "byte by byte");

    let mut rng = fastrand::Rng::with_seed(7);
    let mut receiver = deflate_receiver(max);
    let mut recorder = Recorder::default();
    let mut result = Ok(());
    let mut rest = stream;
    while !rest.is_empty() {
        let n = rng.usize(1..=rest.len().min(3_000));
        result = result.and(receiver.receive(&mut rest[..n].to_vec(), &mut recorder));
        rest = &rest[n..];
    }
    assert_eq!((result, recorder.events), expected, "random pieces");
    expected
}

fn binary(data: &[u8]) -> Event {
    Event::Message {
        binary: true,
        data: data.to_vec(),
    }
}

/// Text in random order, so it compresses like real text, not a pattern.
fn words(len: usize) -> String {
    let words = [
        "permessage",
        "deflate",
        "κόσμε",
        "frame",
        "window",
        "{\"id\":",
        "42",
    ];
    let mut rng = fastrand::Rng::with_seed(len as u64);
    let mut out = String::new();
    while out.len() < len {
        out.push_str(words[rng.usize(..words.len())]);
        out.push(' ');
    }
    out
}

#[test]
fn single_frame_messages_arrive_inflated_and_owned() {
    let long = words(20_000);
    let bytes: Vec<u8> = (0..5_000u32).map(|i| (i % 7) as u8).collect();
    let stream = [
        compressed_frame(OpCode::Text, true, &deflated(long.as_bytes())),
        compressed_frame(OpCode::Binary, true, &deflated(&bytes)),
        compressed_frame(OpCode::Text, true, &deflated(b"")),
        frame(OpCode::Binary, true, b"plain"),
    ]
    .concat();
    let (result, events) = feed_compressed(&stream, 1 << 20);
    result.unwrap();
    assert_eq!(
        events,
        [text(&long), binary(&bytes), text(""), binary(b"plain")]
    );

    let mut receiver = deflate_receiver(1 << 20);
    let mut recorder = Recorder::default();
    receiver
        .receive(&mut stream.clone(), &mut recorder)
        .unwrap();
    // Uncompressed messages keep the zero-copy path.
    assert_eq!(recorder.owned, [true, true, true, false]);
    assert_eq!(receiver.buffered_len(), 0);
}

#[test]
fn fragmented_compressed_message_with_interleaved_control_frames() {
    let message = words(30_000);
    let payload = deflated(message.as_bytes());
    let (a, rest) = payload.split_at(payload.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let stream = [
        compressed_frame(OpCode::Text, false, a),
        frame(OpCode::Ping, true, b"p"),
        frame(OpCode::Continuation, false, b),
        frame(OpCode::Continuation, false, b""),
        frame(OpCode::Continuation, true, c),
        compressed_frame(OpCode::Binary, false, &deflated(b"next")),
        frame(OpCode::Continuation, true, b""),
    ]
    .concat();
    let (result, events) = feed_compressed(&stream, 1 << 20);
    result.unwrap();
    assert_eq!(
        events,
        [Event::Ping(b"p".to_vec()), text(&message), binary(b"next")]
    );
}

#[test]
fn context_takeover_across_messages() {
    let message = words(3_000);
    let mut deflater = Deflater::new(15, false);
    let mut stream = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let mut payload = Vec::new();
        deflater.compress(message.as_bytes(), &mut payload);
        sizes.push(payload.len());
        stream.extend_from_slice(&compressed_frame(OpCode::Text, true, &payload));
    }
    assert!(sizes[1] < sizes[0] / 4, "{sizes:?}");
    let (result, events) = feed_compressed(&stream, 1 << 20);
    result.unwrap();
    assert_eq!(events, [text(&message), text(&message), text(&message)]);

    // Without context takeover the second message cannot be decoded.
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    receiver.set_inflater(Some(Inflater::new(true)));
    let error = receiver.receive(&mut stream, &mut Recorder::default());
    assert_eq!(error.map_err(|e| e.code), Err(1007));
}

#[test]
fn text_is_validated_after_inflating() {
    let invalid = [b'o', b'k', 0xED, 0xA0, 0x80];
    let stream = compressed_frame(OpCode::Text, true, &deflated(&invalid));
    let (result, events) = feed_compressed(&stream, 1 << 20);
    assert_eq!(result.unwrap_err().code, 1007);
    assert!(events.is_empty());

    let payload = deflated(&[b'a', 0xE2, 0x82]);
    let fragmented = [
        compressed_frame(OpCode::Text, false, &payload[..1]),
        frame(OpCode::Continuation, true, &payload[1..]),
    ]
    .concat();
    assert_eq!(
        feed_compressed(&fragmented, 1 << 20).0.unwrap_err().code,
        1007
    );

    // The same bytes are fine as binary.
    let stream = compressed_frame(OpCode::Binary, true, &deflated(&invalid));
    assert_eq!(feed_compressed(&stream, 1 << 20).1, [binary(&invalid)]);
}

#[test]
fn limit_applies_to_the_decompressed_size() {
    let exact = vec![b'x'; 1000];
    let stream = compressed_frame(OpCode::Binary, true, &deflated(&exact));
    assert!(stream.len() < 100);
    assert_eq!(feed_compressed(&stream, 1000).1, [binary(&exact)]);

    let over = compressed_frame(OpCode::Binary, true, &deflated(&[b'x'; 1001]));
    let (result, events) = feed_compressed(&over, 1000);
    assert_eq!(result, Err(MESSAGE_TOO_BIG));
    assert!(events.is_empty());

    // Fragmented: the assembled compressed data is small, the message is not.
    let payload = deflated(&[b'y'; 1001]);
    let fragmented = [
        compressed_frame(OpCode::Text, false, &payload[..2]),
        frame(OpCode::Continuation, true, &payload[2..]),
    ]
    .concat();
    assert_eq!(feed_compressed(&fragmented, 1000).0, Err(MESSAGE_TOO_BIG));
}

#[test]
fn deflate_bomb_is_refused() {
    let bomb = deflated(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 20_000);
    let mut receiver = deflate_receiver(1 << 20);
    let error = receiver.receive(
        &mut compressed_frame(OpCode::Binary, true, &bomb),
        &mut Recorder::default(),
    );
    assert_eq!(error.unwrap_err().code, 1009);
    assert_eq!(receiver.buffered_len(), 0);
}

#[test]
fn compressed_size_is_bounded_while_assembling() {
    let mut rng = fastrand::Rng::with_seed(3);
    let noise: Vec<u8> = (0..400).map(|_| rng.u8(..)).collect();
    let payload = deflated(&noise);
    assert!(payload.len() > 300);
    let fragmented = [
        compressed_frame(OpCode::Binary, false, &payload[..200]),
        frame(OpCode::Continuation, true, &payload[200..]),
    ]
    .concat();
    let mut receiver = deflate_receiver(300);
    let mut recorder = Recorder::default();
    // The second header alone already exceeds the limit.
    let header_end = compressed_frame(OpCode::Binary, false, &payload[..200]).len() + 8;
    let error = receiver.receive(&mut fragmented[..header_end].to_vec(), &mut recorder);
    assert_eq!(error, Err(MESSAGE_TOO_BIG));
}

#[test]
fn corrupt_compressed_data_closes_with_1007() {
    let reserved_block_type = compressed_frame(OpCode::Binary, true, &[0x07, 0x00]);
    let (result, _) = feed_compressed(&reserved_block_type, 1 << 20);
    assert_eq!(result, Err(INVALID_COMPRESSED_DATA));
    let bad_stored_length = compressed_frame(OpCode::Text, true, &[0x00, 0x05, 0x00, 0x00, 0x00]);
    assert_eq!(
        feed_compressed(&bad_stored_length, 1 << 20).0,
        Err(INVALID_COMPRESSED_DATA)
    );
}

#[test]
fn client_role_inflates_unmasked_server_frames() {
    let mut stream = Vec::new();
    encode_compressed_frame(
        &mut stream,
        OpCode::Text,
        true,
        &deflated(b"from server"),
        None,
    );
    let mut client = Receiver::new(Role::Client, 1 << 20);
    client.set_inflater(Some(Inflater::new(true)));
    let mut recorder = Recorder::default();
    client.receive(&mut stream, &mut recorder).unwrap();
    assert_eq!(recorder.events, [text("from server")]);
}
