//! parse_header on arbitrary bytes: never panics, reports exactly the length its
//! length form announces, and what it returns re-encodes (encode_header,
//! encode_frame) to bytes that parse back to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsws::protocol::mask::apply_mask_scalar;
use rsws::protocol::{
    encode_frame, encode_header, parse_header, FrameHeader, OpCode, MAX_HEADER_LEN,
};

/// The header length announced by the first two bytes.
fn announced_len(second: u8) -> usize {
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if second & 0x80 != 0 { 4 } else { 0 }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, len)) = parse_header(data) else {
        // None only while the header is incomplete.
        assert!(data.len() < 2 || data.len() < announced_len(data[1]));
        return;
    };
    assert_eq!(len, announced_len(data[1]));
    assert!(len <= data.len() && len <= MAX_HEADER_LEN);
    // Only the header's own bytes matter, and no shorter prefix is a header.
    assert_eq!(parse_header(&data[..len]), Some((header, len)));
    for partial in 0..len {
        assert_eq!(parse_header(&data[..partial]), None, "prefix {partial}");
    }
    // Field by field against the wire format.
    assert_eq!(header.fin, data[0] & 0x80 != 0);
    assert_eq!(
        [header.rsv1, header.rsv2, header.rsv3],
        [
            data[0] & 0x40 != 0,
            data[0] & 0x20 != 0,
            data[0] & 0x10 != 0
        ]
    );
    assert_eq!(header.opcode, data[0] & 0x0F);
    assert_eq!(header.mask.is_some(), data[1] & 0x80 != 0);
    if let Some(key) = header.mask {
        assert_eq!(key, data[len - 4..len]);
    }

    // The encoders take a known opcode and cannot set RSV2/RSV3.
    let Some(opcode) = OpCode::from_u8(header.opcode) else {
        return;
    };
    let Ok(payload_len) = usize::try_from(header.payload_len) else {
        return;
    };
    let mut out = [0u8; MAX_HEADER_LEN];
    let out_len = encode_header(
        &mut out,
        header.fin,
        header.rsv1,
        opcode,
        payload_len,
        header.mask,
    );
    let expected = FrameHeader {
        rsv2: false,
        rsv3: false,
        ..header
    };
    assert_eq!(parse_header(&out[..out_len]), Some((expected, out_len)));
    // The encoder uses the shortest length form, so the bytes match whenever
    // the input did too.
    let minimal = match data[1] & 0x7F {
        126 => header.payload_len >= 126,
        127 => header.payload_len > u16::MAX as u64,
        _ => true,
    };
    if minimal && !header.rsv2 && !header.rsv3 {
        assert_eq!(out[..out_len], data[..len]);
    } else {
        assert!(out_len <= len);
    }

    // A whole frame, with the input's remaining bytes as payload.
    let Some(payload) = data[len..].get(..payload_len) else {
        return;
    };
    let mut frame = Vec::new();
    encode_frame(&mut frame, opcode, header.fin, payload, header.mask);
    let (parsed, frame_header_len) = parse_header(&frame).expect("encoded header parses");
    assert_eq!(
        parsed,
        FrameHeader {
            rsv1: false,
            ..expected
        }
    );
    assert_eq!(frame.len(), frame_header_len + payload_len);
    let body = &mut frame[frame_header_len..];
    if let Some(key) = header.mask {
        apply_mask_scalar(body, key);
    }
    assert_eq!(body, payload);
});
