use std::io::{Read, Write};

use super::*;

/// Measures back-reference distances in a deflate stream.
mod distances;

/// Text-like data that compresses well, with repeats far apart.
fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let words = [
        "alpha ", "beta ", "gamma ", "delta ", "{\"id\":", "42, ", "\n",
    ];
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(words[rng.usize(..words.len())].as_bytes());
    }
    out.truncate(len);
    out
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn compress(deflater: &mut Deflater, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    deflater.compress(message, &mut out);
    out
}

fn decompress(
    inflater: &mut Inflater,
    compressed: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    inflater
        .decompress(compressed, max_len, &mut out)
        .map(|()| out)
}

/// Raw deflate decoded by another implementation.
fn miniz_inflate(compressed: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(&complete_stream(compressed)).unwrap()
}

/// The trailer put back, and a final empty stored block to end the stream.
fn complete_stream(compressed: &[u8]) -> Vec<u8> {
    let mut stream = compressed.to_vec();
    stream.extend_from_slice(&TRAILER);
    stream.extend_from_slice(&[0x01, 0x00, 0x00, 0xFF, 0xFF]);
    stream
}

#[test]
fn round_trip_every_window_and_mode() {
    let messages = [
        Vec::new(),
        b"a".to_vec(),
        sample(100, 1),
        sample(70_000, 2),
        random(5_000, 3),
        Vec::new(),
        sample(1000, 4),
    ];
    for window_bits in 8..=15 {
        for no_context_takeover in [false, true] {
            let mut deflater = Deflater::new(window_bits, no_context_takeover);
            let mut inflater = Inflater::new(no_context_takeover);
            for message in &messages {
                let compressed = compress(&mut deflater, message);
                assert!(!compressed.ends_with(&TRAILER));
                let plain = decompress(&mut inflater, &compressed, 1 << 20).unwrap();
                assert_eq!(
                    &plain, message,
                    "window {window_bits} {no_context_takeover}"
                );
            }
        }
    }
}

#[test]
fn empty_message_is_one_zero_byte() {
    for no_context_takeover in [false, true] {
        let mut deflater = Deflater::new(15, no_context_takeover);
        assert_eq!(compress(&mut deflater, b""), [0x00]);
        compress(&mut deflater, b"something first");
        assert_eq!(compress(&mut deflater, b""), [0x00]);
    }
    assert_eq!(miniz_inflate(&[0x00]), b"");
}

#[test]
fn compress_appends_to_the_callers_buffer() {
    let mut out = b"header".to_vec();
    let message = sample(10_000, 5);
    Deflater::new(15, false).compress(&message, &mut out);
    assert_eq!(&out[..6], b"header");
    assert_eq!(miniz_inflate(&out[6..]), message);

    let mut plain = b"prefix".to_vec();
    Inflater::new(false)
        .decompress(&out[6..], message.len(), &mut plain)
        .unwrap();
    assert_eq!(&plain[..6], b"prefix");
    assert_eq!(&plain[6..], message);
}

#[test]
fn context_takeover_shrinks_repeats_and_needs_the_context() {
    let message = sample(2_000, 6);
    let mut takeover = Deflater::new(15, false);
    let first = compress(&mut takeover, &message);
    let second = compress(&mut takeover, &message);
    assert!(
        second.len() * 5 < first.len(),
        "{} vs {}",
        second.len(),
        first.len()
    );

    let mut standalone = Deflater::new(15, true);
    assert_eq!(compress(&mut standalone, &message), first);
    assert_eq!(compress(&mut standalone, &message), first);

    // The second message only decodes with the first one's context.
    let mut inflater = Inflater::new(false);
    assert_eq!(decompress(&mut inflater, &first, 1 << 20).unwrap(), message);
    assert_eq!(
        decompress(&mut inflater, &second, 1 << 20).unwrap(),
        message
    );
    let mut no_context = Inflater::new(true);
    assert_eq!(
        decompress(&mut no_context, &first, 1 << 20).unwrap(),
        message
    );
    assert_eq!(
        decompress(&mut no_context, &second, 1 << 20),
        Err(InflateError::Corrupt)
    );
}

#[test]
fn standalone_frame_between_takeover_messages_after_reset() {
    let a = sample(3_000, 7);
    let b = sample(3_000, 8);
    let mut deflater = Deflater::new(15, false);
    let mut inflater = Inflater::new(false);
    let mut frames = vec![compress(&mut deflater, &a)];
    let mut shared = Vec::new();
    compress_standalone(&b, 15, &mut shared);
    frames.push(shared);
    deflater.reset();
    frames.push(compress(&mut deflater, &a));
    frames.push(compress(&mut deflater, &b));
    let expected = [&a, &b, &a, &b];
    for (frame, message) in frames.iter().zip(expected) {
        assert_eq!(&decompress(&mut inflater, frame, 1 << 20).unwrap(), message);
    }
}

#[test]
fn standalone_output_is_the_same_every_time() {
    let message = sample(5_000, 9);
    let mut first = Vec::new();
    compress_standalone(&message, 12, &mut first);
    for _ in 0..3 {
        let mut again = Vec::new();
        compress_standalone(&message, 12, &mut again);
        assert_eq!(again, first);
    }
    assert_eq!(miniz_inflate(&first), message);
}

#[test]
fn interop_with_other_deflate_implementations() {
    let message = sample(50_000, 10);
    // Ours, decoded by flate2's streaming decoder and by miniz_oxide.
    let compressed = compress(&mut Deflater::new(15, true), &message);
    let mut decoded = Vec::new();
    flate2::read::DeflateDecoder::new(&complete_stream(&compressed)[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, message);
    assert_eq!(miniz_inflate(&compressed), message);

    // flate2's streaming encoder with a sync flush, as a zlib-based peer sends.
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&message).unwrap();
    encoder.flush().unwrap();
    let mut theirs = encoder.get_ref().clone();
    assert!(theirs.ends_with(&TRAILER));
    theirs.truncate(theirs.len() - 4);
    assert_eq!(
        decompress(&mut Inflater::new(true), &theirs, 1 << 20).unwrap(),
        message
    );

    // miniz_oxide's whole-stream output ends with a BFINAL block and no
    // trailer; a peer may send that too.
    let finished = miniz_oxide::deflate::compress_to_vec(&message, 6);
    let mut inflater = Inflater::new(false);
    assert_eq!(
        decompress(&mut inflater, &finished, 1 << 20).unwrap(),
        message
    );
    // The stream ended, so the next message starts a new one.
    assert_eq!(
        decompress(&mut inflater, &finished, 1 << 20).unwrap(),
        message
    );
}

#[test]
fn window_8_output_fits_a_256_byte_window() {
    // Answering server_max_window_bits=8 relies on zlib never emitting a
    // distance over 250 with a 9-bit window, across messages that share
    // context too. The data repeats at distances of 300-700 bytes, which a
    // larger window does use.
    let longest = |window_bits: u8| {
        let mut deflater = Deflater::new(window_bits, false);
        let mut longest = 0;
        for seed in 0..4 {
            let block = random(300 + 100 * seed as usize, 30 + seed);
            let mut message = block.repeat(5);
            message.extend_from_slice(&sample(3_000, 40 + seed));
            let mut stream = compress(&mut deflater, &message);
            stream.extend_from_slice(&TRAILER);
            longest = longest.max(distances::longest_distance(&stream));
        }
        longest
    };
    assert!(longest(8) <= 256, "{}", longest(8));
    assert_eq!(longest(8), longest(9));
    // The measurement can fail: a 10-bit window reaches further back.
    assert!(longest(10) > 256, "{}", longest(10));
}

#[test]
fn deflate_bomb_is_refused_within_the_limit() {
    let zeros = vec![0u8; 10 << 20];
    let mut compressed = Vec::new();
    compress_standalone(&zeros, 15, &mut compressed);
    assert!(compressed.len() < 20_000, "{}", compressed.len());

    let limit = 1 << 20;
    for no_context_takeover in [false, true] {
        let mut out = Vec::new();
        let result = Inflater::new(no_context_takeover).decompress(&compressed, limit, &mut out);
        assert_eq!(result, Err(InflateError::TooBig));
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
    }
    // With a big enough limit it inflates.
    let plain = decompress(&mut Inflater::new(true), &compressed, 10 << 20).unwrap();
    assert_eq!(plain.len(), 10 << 20);
}

#[test]
fn limit_is_exact() {
    let message = sample(5_000, 11);
    let compressed = compress(&mut Deflater::new(15, true), &message);
    let mut inflater = Inflater::new(false);
    assert_eq!(
        decompress(&mut inflater, &compressed, 5_000).unwrap(),
        message
    );
    assert_eq!(
        decompress(&mut inflater, &compressed, 4_999),
        Err(InflateError::TooBig)
    );
    assert_eq!(decompress(&mut inflater, &[0x00], 0).unwrap(), b"");
    // After an error the inflater starts over.
    assert_eq!(
        decompress(&mut inflater, &compressed, 5_000).unwrap(),
        message
    );
}

#[test]
fn corrupt_data_is_refused() {
    let mut inflater = Inflater::new(false);
    // BTYPE 11 is reserved.
    assert_eq!(
        decompress(&mut inflater, &[0x07, 0x00], 100),
        Err(InflateError::Corrupt)
    );
    // A stored block whose length check fails.
    assert_eq!(
        decompress(&mut inflater, &[0x00, 0x05, 0x00, 0x00, 0x00], 100),
        Err(InflateError::Corrupt)
    );
    // Data after a final block.
    let mut finished = miniz_oxide::deflate::compress_to_vec(b"abc", 6);
    finished.push(0x00);
    assert_eq!(
        decompress(&mut inflater, &finished, 100),
        Err(InflateError::Corrupt)
    );
    // Truncated: the message stops inside a block (ok to zlib so far, the
    // output is simply short); it must not hang or panic.
    let message = sample(3_000, 12);
    let compressed = compress(&mut Deflater::new(15, true), &message);
    let cut = decompress(
        &mut Inflater::new(true),
        &compressed[..compressed.len() / 2],
        1 << 20,
    );
    assert_ne!(cut.as_deref().ok(), Some(&message[..]));
    // The thread's shared inflater is clean for the next message.
    assert_eq!(
        decompress(&mut Inflater::new(true), &compressed, 1 << 20).unwrap(),
        message
    );
}

#[test]
fn codec_values_are_small_and_lazy() {
    assert!(std::mem::size_of::<Deflater>() <= 16);
    assert!(std::mem::size_of::<Inflater>() <= 16);
    let mut inflater = Inflater::new(false);
    assert!(inflater.context.is_none());
    decompress(&mut inflater, &[0x00], 10).unwrap();
    assert!(inflater.context.is_some());
    let mut deflater = Deflater::new(15, true);
    compress(&mut deflater, b"x");
    assert!(deflater.context.is_none());
}
