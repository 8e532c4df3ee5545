//! The packed record of the event path, both ways: events to JS, and WebSocket sends and
//! HTTP responses from JS. A 12-byte little-endian header `[id u32][op u8][flags u8]
//! [extra u16][len u32]`, then `len` bytes (mirrored in `lib/`).

pub const HEADER_LEN: usize = 12;

/// One record read from a buffer.
pub struct Record<'a> {
    pub id: u32,
    pub op: u8,
    pub flags: u8,
    pub extra: u16,
    pub payload: &'a [u8],
}

/// A record's header.
pub fn header(id: u32, op: u8, flags: u8, extra: u16, len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&id.to_le_bytes());
    h[4] = op;
    h[5] = flags;
    h[6..8].copy_from_slice(&extra.to_le_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    h
}

/// The payload length a header states.
pub fn payload_len(h: &[u8]) -> usize {
    u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize
}

/// The whole records of `buf` in order; a truncated one ends them.
pub fn records(buf: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = buf.get(at..at + HEADER_LEN)?;
        let len = payload_len(h);
        let payload = buf.get(at + HEADER_LEN..at + HEADER_LEN + len)?;
        at += HEADER_LEN + len;
        Some(Record {
            id: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            op: h[4],
            flags: h[5],
            extra: u16::from_le_bytes([h[6], h[7]]),
            payload,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_what_headers_wrote_and_stop_at_a_truncated_one() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&header(7, 2, 1, 1000, 3));
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(&header(u32::MAX, 9, 0, 0, 0));
        buf.extend_from_slice(&header(8, 1, 0, 0, 5));
        buf.extend_from_slice(b"cut");
        let got: Vec<_> = records(&buf)
            .map(|r| (r.id, r.op, r.flags, r.extra, r.payload.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (7, 2, 1, 1000, b"abc".to_vec()),
                (u32::MAX, 9, 0, 0, Vec::new())
            ]
        );
    }
}
