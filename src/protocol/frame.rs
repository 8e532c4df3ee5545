//! Frame header decoding and frame encoding (RFC 6455 section 5.2).

use super::mask::apply_mask;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl OpCode {
    /// None for the reserved opcodes 3-7 and 11-15.
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A decoded header; rule checks are left to the receiver so it can choose
/// the close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    /// Raw value, so reserved opcodes can be reported.
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// 2 bytes + 8-byte extended length + 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// Decodes a header from the start of `buf`; None until it is complete.
pub fn parse_header(buf: &[u8]) -> Option<(FrameHeader, usize)> {
    let (&first, rest) = buf.split_first()?;
    let &second = rest.first()?;
    let masked = second & 0x80 != 0;
    let (payload_len, mut len) = match second & 0x7F {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as u64,
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()), 10),
        short => (short as u64, 2),
    };
    let mask = if masked {
        let key: [u8; 4] = buf.get(len..len + 4)?.try_into().unwrap();
        len += 4;
        Some(key)
    } else {
        None
    };
    let header = FrameHeader {
        fin: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        rsv2: first & 0x20 != 0,
        rsv3: first & 0x10 != 0,
        opcode: first & 0x0F,
        mask,
        payload_len,
    };
    Some((header, len))
}

/// Writes a header using the shortest length form; returns its length.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = (fin as u8) << 7 | (rsv1 as u8) << 6 | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut len = if payload_len < 126 {
        out[1] = mask_bit | payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        out[len..len + 4].copy_from_slice(&key);
        len += 4;
    }
    len
}

/// Appends a whole frame to `out`, masking the copied payload if asked.
pub fn encode_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    append_frame(out, opcode, fin, false, payload, mask);
}

/// Like [`encode_frame`] with RSV1 set: the first (or only) frame of a
/// permessage-deflate message, `payload` coming from a `deflate::Deflater`.
/// Continuation frames of a compressed message use [`encode_frame`] (RFC
/// 7692 sets RSV1 on the first frame only).
pub fn encode_compressed_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    append_frame(out, opcode, fin, true, payload, mask);
}

fn append_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let mut header = [0u8; MAX_HEADER_LEN];
    let header_len = encode_header(&mut header, fin, rsv1, opcode, payload.len(), mask);
    out.reserve(header_len + payload.len());
    out.extend_from_slice(&header[..header_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

/// Builds a close frame payload; `code == 0` means no code (empty payload), and so do
/// 1005, 1006 and 1015.
/// The reason is cut to fit the 125-byte control frame limit, at a UTF-8
/// character boundary so the peer does not reject it as invalid text.
pub fn encode_close_payload(code: u16, reason: &[u8], out: &mut [u8; 125]) -> usize {
    // Codes that must not be sent (RFC 6455 section 7.4.1) go out as an empty close, as
    // with no code (uWS.js does the same for 1005 and 1006).
    if matches!(code, 0 | 1005 | 1006 | 1015) {
        return 0;
    }
    out[..2].copy_from_slice(&code.to_be_bytes());
    let mut reason_len = reason.len().min(123);
    if reason_len < reason.len() {
        // Step back over continuation bytes to the start of the cut character.
        while reason_len > 0 && reason[reason_len] & 0xC0 == 0x80 {
            reason_len -= 1;
        }
    }
    out[2..2 + reason_len].copy_from_slice(&reason[..reason_len]);
    2 + reason_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::mask::apply_mask_scalar;

    #[test]
    fn opcodes() {
        for raw in 0..16u8 {
            let op = OpCode::from_u8(raw);
            assert_eq!(op.is_some(), matches!(raw, 0..=2 | 8..=10), "{raw}");
            if let Some(op) = op {
                assert_eq!(op as u8, raw);
                assert_eq!(op.is_control(), raw >= 8);
            }
        }
    }

    #[test]
    fn length_forms_at_boundaries() {
        let cases = [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (u32::MAX as usize + 7, 10),
        ];
        for (payload_len, expected_len) in cases {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = [0u8; MAX_HEADER_LEN];
                let len = encode_header(&mut out, true, false, OpCode::Binary, payload_len, mask);
                let expected_len = expected_len + if mask.is_some() { 4 } else { 0 };
                assert_eq!(len, expected_len, "{payload_len}");
                let (header, parsed_len) = parse_header(&out[..len]).unwrap();
                assert_eq!(parsed_len, len);
                assert_eq!(header.payload_len, payload_len as u64);
                assert_eq!(header.mask, mask);
                assert!(header.fin && !header.rsv1 && !header.rsv2 && !header.rsv3);
                assert_eq!(header.opcode, 2);
                for partial in 0..len {
                    assert_eq!(
                        parse_header(&out[..partial]),
                        None,
                        "{payload_len} {partial}"
                    );
                }
            }
        }
    }

    #[test]
    fn parses_flags_and_raw_reserved_opcode() {
        let (header, len) = parse_header(&[0x7B, 0x00]).unwrap();
        assert_eq!(len, 2);
        assert!(!header.fin && header.rsv1 && header.rsv2 && header.rsv3);
        assert_eq!(header.opcode, 0xB);
        // Unminimal 64-bit length with the top bit set still decodes.
        let (header, len) = parse_header(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(len, 10);
        assert_eq!(header.payload_len, (1 << 63) | 1);
    }

    #[test]
    fn encode_frame_round_trip_with_mask() {
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let key = [0xAA, 0x55, 0x0F, 0xF0];
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Text, false, &payload, Some(key));
        let (header, len) = parse_header(&out).unwrap();
        assert_eq!(len, 8);
        assert!(!header.fin);
        assert_eq!(header.opcode, 1);
        assert_eq!(header.payload_len, 300);
        let mut body = out[len..].to_vec();
        assert_ne!(body, payload);
        apply_mask_scalar(&mut body, header.mask.unwrap());
        assert_eq!(body, payload);

        out.clear();
        encode_frame(&mut out, OpCode::Ping, true, b"hi", None);
        assert_eq!(out, [0x89, 2, b'h', b'i']);
    }

    #[test]
    fn compressed_frame_sets_rsv1_only() {
        let mut out = Vec::new();
        encode_compressed_frame(&mut out, OpCode::Text, true, &[0x00], None);
        assert_eq!(out, [0xC1, 1, 0x00]);
        out.clear();
        encode_compressed_frame(
            &mut out,
            OpCode::Binary,
            false,
            &[7; 200],
            Some([1, 2, 3, 4]),
        );
        let (header, len) = parse_header(&out).unwrap();
        assert!(header.rsv1 && !header.rsv2 && !header.rsv3 && !header.fin);
        assert_eq!((header.opcode, header.payload_len, len), (2, 200, 8));
    }

    #[test]
    fn close_payload() {
        let mut out = [0u8; 125];
        assert_eq!(encode_close_payload(0, b"ignored", &mut out), 0);
        // Reserved for "no status", "abnormal" and "TLS failure": never on the wire.
        for code in [1005, 1006, 1015] {
            assert_eq!(
                encode_close_payload(code, b"ignored", &mut out),
                0,
                "{code}"
            );
        }
        let len = encode_close_payload(1000, b"bye", &mut out);
        assert_eq!(&out[..len], &[0x03, 0xE8, b'b', b'y', b'e']);

        // 122 ASCII bytes then a 3-byte character would end at 125: cut before it.
        let reason = format!("{}€", "a".repeat(122));
        let len = encode_close_payload(4000, reason.as_bytes(), &mut out);
        assert_eq!(len, 2 + 122);
        assert!(std::str::from_utf8(&out[2..len]).is_ok());

        let reason = "b".repeat(200);
        assert_eq!(encode_close_payload(1001, reason.as_bytes(), &mut out), 125);
    }
}
