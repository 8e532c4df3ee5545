use super::*;

/// Feeds `pieces` as successive reads (keeping unconsumed bytes, as a
/// connection buffer would); returns the body and the bytes left over.
fn decode_pieces(
    decoder: &mut BodyDecoder,
    pieces: &[&[u8]],
) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
    let mut buf = Vec::new();
    let mut body = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while !decoder.is_done() && !buf.is_empty() {
            let out = decoder.decode(&buf)?;
            assert!(out.body.end <= out.consumed);
            assert!(out.consumed > 0, "no progress on {} bytes", buf.len());
            body.extend_from_slice(&buf[out.body.clone()]);
            buf.drain(..out.consumed);
            assert_eq!(out.done, decoder.is_done());
        }
    }
    Ok((body, buf))
}

fn decode_all(framing: BodyFraming, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
    let mut decoder = BodyDecoder::new(framing);
    let result = decode_pieces(&mut decoder, &[input])?;
    assert!(decoder.is_done(), "body incomplete");
    Ok(result)
}

fn chunked(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
    decode_all(BodyFraming::Chunked, input)
}

fn chunked_status(input: &[u8]) -> u16 {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    decode_pieces(&mut decoder, &[input]).unwrap_err().status
}

#[test]
fn empty_framing_is_done_at_once() {
    let mut decoder = BodyDecoder::new(BodyFraming::Empty);
    assert!(decoder.is_done());
    let out = decoder.decode(b"GET /next").unwrap();
    assert_eq!(
        out,
        DecodeOut {
            body: 0..0,
            consumed: 0,
            done: true
        }
    );
    assert!(BodyDecoder::new(BodyFraming::Length(0)).is_done());
}

#[test]
fn length_body_is_borrowed_and_stops_at_its_end() {
    let mut decoder = BodyDecoder::new(BodyFraming::Length(5));
    let out = decoder.decode(b"abc").unwrap();
    assert_eq!(
        out,
        DecodeOut {
            body: 0..3,
            consumed: 3,
            done: false
        }
    );
    let out = decoder.decode(b"deGET").unwrap();
    assert_eq!(
        out,
        DecodeOut {
            body: 0..2,
            consumed: 2,
            done: true
        }
    );
    assert!(decoder.is_done());
    let out = decoder.decode(b"GET").unwrap();
    assert_eq!(
        out,
        DecodeOut {
            body: 0..0,
            consumed: 0,
            done: true
        }
    );
}

#[test]
fn length_over_the_limit_is_413() {
    assert_eq!(
        BodyDecoder::with_limit(BodyFraming::Length(11), 10)
            .unwrap_err()
            .status,
        413
    );
    assert!(BodyDecoder::with_limit(BodyFraming::Length(10), 10).is_ok());
}

#[test]
fn chunked_basics() {
    let (body, rest) = chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT").unwrap();
    assert_eq!(body, b"hello world");
    assert_eq!(rest, b"NEXT");
    let (body, _) = chunked(b"0\r\n\r\n").unwrap();
    assert!(body.is_empty());
    let (body, _) = chunked(b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n").unwrap();
    assert_eq!(body.len(), 20);
    let (body, _) = chunked(b"0003\r\nabc\r\n0000\r\n\r\n").unwrap();
    assert_eq!(body, b"abc");
}

#[test]
fn chunk_data_is_returned_as_ranges_of_the_input() {
    let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    let out = decoder.decode(input).unwrap();
    assert_eq!(
        out,
        DecodeOut {
            body: 3..6,
            consumed: 6,
            done: false
        }
    );
    let rest = &input[6..];
    let out = decoder.decode(rest).unwrap();
    assert_eq!(&rest[out.body.clone()], b"de");
    let rest = &rest[out.consumed..];
    let out = decoder.decode(rest).unwrap();
    assert!(out.done && out.body.is_empty());
    assert_eq!(out.consumed, rest.len());
}

#[test]
fn extensions_are_skipped() {
    let input = b"5;name=value;flag\r\nhello\r\n5 ; q=\"a b\"\r\nworld\r\n0;last\r\n\r\n";
    let (body, rest) = chunked(input).unwrap();
    assert_eq!(body, b"helloworld");
    assert!(rest.is_empty());
    let (body, _) = chunked(b"2\t;x\r\nhi\r\n0\r\n\r\n").unwrap();
    assert_eq!(body, b"hi");
}

#[test]
fn trailers_are_skipped() {
    let input = b"2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\nNEXT";
    let (body, rest) = chunked(input).unwrap();
    assert_eq!(body, b"hi");
    assert_eq!(rest, b"NEXT");
}

#[test]
fn invalid_chunk_sizes_are_400() {
    assert_eq!(chunked_status(b"g\r\n"), 400);
    assert_eq!(chunked_status(b"\r\n"), 400);
    assert_eq!(chunked_status(b"-1\r\n"), 400);
    assert_eq!(chunked_status(b"+1\r\n"), 400);
    assert_eq!(chunked_status(b"0x1\r\n"), 400);
    assert_eq!(chunked_status(b" 1\r\n"), 400);
    assert_eq!(chunked_status(b";ext\r\n"), 400);
    // Whitespace after the size only before an extension.
    assert_eq!(chunked_status(b"1 \r\na\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"1 2\r\n"), 400);
    // u64 overflow, also after leading zeros.
    assert_eq!(chunked_status(b"10000000000000000\r\n"), 400);
    assert_eq!(chunked_status(b"fffffffffffffffff\r\n"), 400);
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    let out = decoder.decode(b"000ffffffffffffffff\r\n").unwrap();
    assert!(!out.done, "u64::MAX with leading zeros is a valid size");
}

#[test]
fn line_endings_in_framing_are_strict() {
    // Bare LF after the size, the data, the last chunk and the trailers.
    assert_eq!(chunked_status(b"1\na\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"1;x\na\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"1\r\na\n0\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\n\n"), 400);
    assert_eq!(chunked_status(b"0\r\nX: 1\n\r\n"), 400);
    // CR not followed by LF.
    assert_eq!(chunked_status(b"1\rxa\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\n\rx"), 400);
    // Data longer than its size: no CRLF where it must be.
    assert_eq!(chunked_status(b"1\r\nab\r\n0\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"3\r\nab\r\n0\r\n\r\n"), 400);
}

#[test]
fn bad_extensions_and_trailers_are_400() {
    assert_eq!(chunked_status(b"1;a\x01b\r\n"), 400);
    assert_eq!(chunked_status(b"1;a\0\r\n"), 400);
    // obs-fold, no colon, space before colon, control in value.
    assert_eq!(chunked_status(b"0\r\nX: a\r\n b\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\nNoColon\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\nX : a\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\n: a\r\n\r\n"), 400);
    assert_eq!(chunked_status(b"0\r\nX: a\x7f\r\n\r\n"), 400);
}

#[test]
fn long_size_lines_and_trailers_are_bounded() {
    let mut line = b"1;".to_vec();
    line.extend(std::iter::repeat_n(b'x', MAX_CHUNK_LINE - 3));
    line.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(chunked(&line).unwrap().0, b"a");
    let mut line = b"1;".to_vec();
    line.extend(std::iter::repeat_n(b'x', MAX_CHUNK_LINE - 2));
    line.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(chunked_status(&line), 400);
    // Leading zeros count too, so they cannot run forever.
    let zeros = vec![b'0'; MAX_CHUNK_LINE + 1];
    assert_eq!(chunked_status(&zeros), 400);

    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < MAX_TRAILER_BYTES + 100 {
        trailers.extend_from_slice(b"X-Pad: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(chunked_status(&trailers), 431);
}

#[test]
fn chunked_over_the_limit_is_413_at_the_size_line() {
    let mut decoder = BodyDecoder::with_limit(BodyFraming::Chunked, 10).unwrap();
    let (body, _) = decode_pieces(&mut decoder, &[b"5\r\nhello\r\n5\r\nworld\r\n"]).unwrap();
    assert_eq!(body, b"helloworld");
    let error = decoder.decode(b"1\r\n").unwrap_err();
    assert_eq!(error.status, 413);
    // The sum of sizes overflowing u64 is 413 too, not a wrap.
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    let input = b"ffffffffffffffff\r\n";
    assert!(!decoder.decode(input).unwrap().done);
    let mut decoder = BodyDecoder::with_limit(BodyFraming::Chunked, u64::MAX).unwrap();
    decoder.announced = 1;
    assert_eq!(decoder.decode(input).unwrap_err().status, 413);
}

#[test]
fn every_split_of_a_chunked_body_decodes_the_same() {
    let input: &[u8] = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n";
    let expected_body = b"Wikipedia in\r\n\r\nchunks.".to_vec();
    let expected_rest = b"GET / HTTP/1.1\r\n".to_vec();
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
        let (body, rest) = decode_pieces(&mut decoder, &[a, b]).unwrap();
        assert_eq!(body, expected_body, "split at {split}");
        assert_eq!(rest, expected_rest, "split at {split}");
    }
    for first in 0..input.len() {
        for second in first..=input.len() {
            let pieces = [&input[..first], &input[first..second], &input[second..]];
            let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
            let (body, rest) = decode_pieces(&mut decoder, &pieces).unwrap();
            assert_eq!((body, rest), (expected_body.clone(), expected_rest.clone()));
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    assert_eq!(
        decode_pieces(&mut decoder, &bytes).unwrap(),
        (expected_body, expected_rest)
    );
}

/// Random pieces of `input`, at most `max` bytes each.
fn random_pieces<'a>(rng: &mut fastrand::Rng, input: &'a [u8], max: usize) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let len = rng.usize(1..=max).min(input.len() - at);
        pieces.push(&input[at..at + len]);
        at += len;
    }
    pieces
}

fn mib_of_data(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut data = vec![0u8; 1 << 20];
    rng.fill(&mut data);
    data
}

#[test]
fn one_mib_chunked_in_random_splits() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let data = mib_of_data(&mut rng);
    let mut encoded = Vec::with_capacity(data.len() + 64 * 1024);
    let mut at = 0;
    while at < data.len() {
        let len = rng.usize(1..=70_000).min(data.len() - at);
        if rng.bool() {
            encoded.extend_from_slice(format!("{len:X};n={at}\r\n").as_bytes());
        } else {
            encoded.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        encoded.extend_from_slice(&data[at..at + len]);
        encoded.extend_from_slice(b"\r\n");
        at += len;
    }
    encoded.extend_from_slice(b"0\r\nT: 1\r\n\r\nafter");
    for max_piece in [1, 7, 1000, 65_536, 1 << 21] {
        let pieces = random_pieces(&mut rng, &encoded, max_piece);
        let mut decoder = BodyDecoder::with_limit(BodyFraming::Chunked, 1 << 20).unwrap();
        let (body, rest) = decode_pieces(&mut decoder, &pieces).unwrap();
        assert!(body == data, "max piece {max_piece}");
        assert_eq!(rest, b"after");
    }
    let mut decoder = BodyDecoder::with_limit(BodyFraming::Chunked, (1 << 20) - 1).unwrap();
    assert_eq!(
        decode_pieces(&mut decoder, &[&encoded]).unwrap_err().status,
        413
    );
}

#[test]
fn one_mib_with_content_length_in_random_splits() {
    let mut rng = fastrand::Rng::with_seed(42);
    let data = mib_of_data(&mut rng);
    let mut input = data.clone();
    input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    for max_piece in [1000, 65_536, 1 << 21] {
        let pieces = random_pieces(&mut rng, &input, max_piece);
        let mut decoder = BodyDecoder::new(BodyFraming::Length(data.len() as u64));
        let (body, rest) = decode_pieces(&mut decoder, &pieces).unwrap();
        assert!(body == data);
        assert_eq!(rest, b"GET /next HTTP/1.1\r\n");
    }
}
