use super::*;

/// Copies what fits of `bytes` into `target`, as a read would; returns how much.
fn write_into(target: &mut [MaybeUninit<u8>], bytes: &[u8]) -> usize {
    let n = bytes.len().min(target.len());
    for (slot, byte) in target.iter_mut().zip(&bytes[..n]) {
        slot.write(*byte);
    }
    n
}

/// Writes `bytes` into the room the receiver gave and reports them; the bytes written
/// are at most the room's length.
fn direct(receiver: &mut Receiver, recorder: &mut Recorder, room: usize, bytes: &[u8]) -> usize {
    let n = write_into(
        receiver.direct_target(room).expect("room to read into"),
        bytes,
    );
    // SAFETY: the first n bytes of the target were just written.
    unsafe { receiver.receive_direct(n, recorder) }.unwrap();
    n
}

/// Feeds `stream` as a connection does: straight into the frame's payload whenever the
/// receiver offers room (`min` bytes missing or more), through a read buffer otherwise,
/// in reads of random sizes.
fn feed_reading_directly(
    receiver: &mut Receiver,
    recorder: &mut Recorder,
    stream: &[u8],
    min: usize,
    rng: &mut fastrand::Rng,
) -> Result<(), CloseError> {
    let mut rest = stream;
    while !rest.is_empty() {
        let read = &rest[..rng.usize(1..=rest.len().min(20_000))];
        let n = if let Some(target) = receiver.direct_target(min) {
            let n = write_into(target, read);
            // SAFETY: the first n bytes of the target were just written.
            unsafe { receiver.receive_direct(n, recorder) }?;
            n
        } else {
            receiver.receive(&mut read.to_vec(), recorder)?;
            read.len()
        };
        rest = &rest[n..];
    }
    Ok(())
}

fn long_text() -> String {
    "κόσμε, ".repeat(9000)
}

/// The mixed stream plus a long text frame (code points cut at every size) and a long
/// fragmented message.
fn stream_with_long_frames() -> Vec<u8> {
    let big: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let mut stream = mixed_stream();
    let close = frame(OpCode::Close, true, &[0x03, 0xE8, b'o', b'k']);
    assert!(stream.ends_with(&close));
    stream.truncate(stream.len() - close.len());
    stream.extend(frame(OpCode::Text, true, long_text().as_bytes()));
    stream.extend(frame(OpCode::Binary, false, &big));
    stream.extend(frame(OpCode::Ping, true, b"between"));
    stream.extend(frame(OpCode::Continuation, true, &big[..40_000]));
    stream.extend(close);
    stream
}

#[test]
fn reading_directly_gives_the_same_events() {
    let stream = stream_with_long_frames();
    let (result, expected) = feed_all(&stream);
    result.unwrap();
    assert_eq!(expected.len(), 11);
    assert!(expected[7] == text(&long_text()));
    assert_eq!(expected[8], Event::Ping(b"between".to_vec()));
    let mut rng = fastrand::Rng::with_seed(7);
    for min in [1, 100, 16 * 1024] {
        for _ in 0..30 {
            let mut receiver = Receiver::new(Role::Server, 1 << 20);
            let mut recorder = Recorder::default();
            feed_reading_directly(&mut receiver, &mut recorder, &stream, min, &mut rng).unwrap();
            assert!(recorder.events == expected, "min {min}");
            assert!(receiver.is_closed());
            assert_eq!(receiver.buffered_len(), 0);
        }
    }
}

#[test]
fn room_only_for_the_missing_payload_of_a_data_frame() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    assert!(receiver.direct_target(1).is_none(), "nothing in progress");
    let payload: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
    let stream = frame(OpCode::Binary, true, &payload);
    // The header (4 bytes of length, 4 of mask) and 1000 bytes of payload.
    feed(&mut receiver, &mut recorder, &stream[..1008]);
    assert!(
        receiver.direct_target(30_000).is_none(),
        "fewer missing than asked"
    );
    assert_eq!(receiver.direct_target(1).unwrap().len(), 29_000);
    assert_eq!(
        direct(&mut receiver, &mut recorder, 1, &stream[1008..20_008]),
        19_000
    );
    assert!(recorder.events.is_empty());
    assert_eq!(receiver.buffered_len(), 20_000);
    assert_eq!(
        direct(&mut receiver, &mut recorder, 1, &stream[20_008..]),
        10_000
    );
    assert_eq!(
        recorder.events,
        vec![Event::Message {
            binary: true,
            data: payload
        }]
    );
    assert_eq!(recorder.owned, vec![true], "delivered without a copy");
    assert!(receiver.direct_target(1).is_none(), "between frames");
    assert_eq!(receiver.buffered_len(), 0);

    // A control frame cut short is never read into directly.
    let ping = frame(OpCode::Ping, true, &[7; 125]);
    feed(&mut receiver, &mut recorder, &ping[..10]);
    assert!(receiver.direct_target(1).is_none(), "control frame");
    feed(&mut receiver, &mut recorder, &ping[10..]);
    assert_eq!(recorder.events[1], Event::Ping(vec![7; 125]));
}

#[test]
fn invalid_utf8_read_directly_fails_and_offers_no_more_room() {
    let mut receiver = Receiver::new(Role::Server, 1 << 20);
    let mut recorder = Recorder::default();
    let mut payload = vec![b'a'; 40_000];
    payload[30_000] = 0xFF;
    let stream = frame(OpCode::Text, true, &payload);
    feed(&mut receiver, &mut recorder, &stream[..100]);
    let n = write_into(receiver.direct_target(1).unwrap(), &stream[100..]);
    // SAFETY: the first n bytes of the target were just written.
    let error = unsafe { receiver.receive_direct(n, &mut recorder) }.unwrap_err();
    assert_eq!(error.code, 1007);
    assert!(receiver.direct_target(1).is_none());
    assert!(recorder.events.is_empty());
}

#[test]
fn a_frame_longer_than_the_up_front_reservation_grows_as_it_is_read() {
    let len = MAX_UP_FRONT_RESERVE + 1_000_000;
    let payload: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
    let stream = frame(OpCode::Binary, true, &payload);
    let mut receiver = Receiver::new(Role::Server, 64 << 20);
    let mut recorder = Recorder::default();
    let mut rng = fastrand::Rng::with_seed(3);
    feed_reading_directly(&mut receiver, &mut recorder, &stream, 1, &mut rng).unwrap();
    assert_eq!(recorder.events.len(), 1);
    assert!(
        recorder.events[0]
            == Event::Message {
                binary: true,
                data: payload
            }
    );
}
