use super::*;

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
fn rsv1_only_with_an_inflater_and_only_on_a_first_data_frame() {
    let compressed_text = compressed_frame(OpCode::Text, true, &deflated(b"hi"));
    expect_error(&compressed_text, 1002);

    let mut receiver = deflate_receiver(1 << 20);
    let mut recorder = Recorder::default();
    receiver
        .receive(&mut compressed_text.clone(), &mut recorder)
        .unwrap();
    receiver
        .receive(&mut raw_frame(0x41, b"a"), &mut recorder)
        .unwrap();
    let error = receiver
        .receive(&mut raw_frame(0xC0, b"b"), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1002, "RSV1 on a continuation frame");
    assert_eq!(recorder.events, [text("hi")]);

    let mut receiver = deflate_receiver(1 << 20);
    let error = receiver
        .receive(&mut raw_frame(0xC9, b""), &mut recorder)
        .unwrap_err();
    assert_eq!(error.code, 1002, "RSV1 on a control frame");

    let mut receiver = deflate_receiver(1 << 20);
    receiver.set_inflater(None);
    let error = receiver.receive(&mut compressed_text.clone(), &mut recorder);
    assert_eq!(error.unwrap_err().code, 1002, "inflater removed");
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
