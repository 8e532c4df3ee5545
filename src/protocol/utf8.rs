//! Streaming UTF-8 validation for text messages that arrive in pieces.
//!
//! RFC 6455 lets an endpoint fail a connection as soon as text data can no
//! longer be valid UTF-8 (Autobahn section 6 checks this "fail fast"), so
//! every chunk is validated when it arrives; only an incomplete trailing code
//! point (at most 3 bytes) is carried over to the next chunk.

/// The bytes seen so far cannot be the prefix of valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

#[derive(Default, Debug, Clone)]
pub struct Utf8Validator {
    /// Start of a code point cut at a chunk boundary; always a valid prefix.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Utf8Error> {
        if self.pending_len > 0 {
            chunk = self.complete_pending(chunk)?;
            if self.pending_len > 0 {
                // The chunk ended before the code point did.
                return Ok(());
            }
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_none() => {
                let tail = &chunk[error.valid_up_to()..];
                if tail.len() > 3 || !is_valid_prefix(tail) {
                    return Err(Utf8Error);
                }
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Ends the text: an unfinished code point is an error. Resets state.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.pending_len == 0;
        self.reset();
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// Moves bytes from `chunk` into the pending code point until it is
    /// complete or `chunk` runs out; returns the rest of `chunk`.
    fn complete_pending<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = self.pending_len as usize;
        let needed = sequence_len(self.pending[0]) - have;
        let take = needed.min(chunk.len());
        self.pending[have..have + take].copy_from_slice(&chunk[..take]);
        let total = have + take;
        if !is_valid_prefix(&self.pending[..total]) {
            return Err(Utf8Error);
        }
        self.pending_len = if take == needed { 0 } else { total as u8 };
        Ok(&chunk[take..])
    }
}

/// Encoded length announced by a lead byte, 0 if it cannot start a character.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Whether `bytes` (at most one code point) starts a valid encoding. The
/// second-byte ranges exclude overlongs (E0, F0), surrogates (ED) and code
/// points above U+10FFFF (F4), so a complete sequence passing this is valid.
fn is_valid_prefix(bytes: &[u8]) -> bool {
    let Some(&lead) = bytes.first() else {
        return true;
    };
    let len = sequence_len(lead);
    if len == 0 || bytes.len() > len {
        return false;
    }
    if let Some(&second) = bytes.get(1) {
        let allowed = match lead {
            0xE0 => 0xA0..=0xBF,
            0xED => 0x80..=0x9F,
            0xF0 => 0x90..=0xBF,
            0xF4 => 0x80..=0x8F,
            _ => 0x80..=0xBF,
        };
        if !allowed.contains(&second) {
            return false;
        }
    }
    bytes.iter().skip(2).all(|&b| (0x80..=0xBF).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_split(data: &[u8], splits: &[usize]) -> Result<(), Utf8Error> {
        let mut validator = Utf8Validator::default();
        let mut start = 0;
        for &end in splits.iter().chain(std::iter::once(&data.len())) {
            validator.feed(&data[start..end])?;
            start = end;
        }
        validator.finish()
    }

    #[test]
    fn valid_text_split_at_every_position() {
        let text = "héllo €uro 𝄞 κόσμε \u{10FFFF}\u{FFFF}\u{80}\u{7FF}\u{800}".as_bytes();
        for a in 0..=text.len() {
            assert_eq!(validate_split(text, &[a]), Ok(()), "split {a}");
            for b in a..=text.len() {
                assert_eq!(validate_split(text, &[a, b]), Ok(()), "split {a} {b}");
            }
        }
    }

    #[test]
    fn byte_by_byte_valid_text() {
        let text = "κόσμε𝄞€".as_bytes();
        let mut validator = Utf8Validator::default();
        for byte in text {
            validator.feed(std::slice::from_ref(byte)).unwrap();
        }
        validator.finish().unwrap();
    }

    #[test]
    fn invalid_prefixes_fail_in_the_chunk_that_breaks_them() {
        let cases: &[&[u8]] = &[
            &[0xF5],
            &[0xC0],
            &[0xC1],
            &[0xFF],
            &[0x80],
            &[0xED, 0xA0],
            &[0xE0, 0x80],
            &[0xF0, 0x80],
            &[0xF4, 0x90],
            &[0xE2, 0x28],
            &[0xF0, 0x90, 0x28],
            &[0xCE, 0xBA, 0x80],
        ];
        for case in cases {
            // All at once, with the offending bytes as an incomplete tail.
            let mut validator = Utf8Validator::default();
            assert_eq!(validator.feed(case), Err(Utf8Error), "{case:x?}");
            // Byte by byte: only the last byte makes it invalid.
            let mut validator = Utf8Validator::default();
            let (last, head) = case.split_last().unwrap();
            for byte in head {
                assert_eq!(validator.feed(&[*byte]), Ok(()), "{case:x?}");
            }
            assert_eq!(validator.feed(&[*last]), Err(Utf8Error), "{case:x?}");
        }
    }

    #[test]
    fn incomplete_code_point_fails_at_finish_and_resets() {
        let mut validator = Utf8Validator::default();
        validator.feed(&[b'a', 0xE2, 0x82]).unwrap();
        assert_eq!(validator.finish(), Err(Utf8Error));
        validator.feed(b"ok").unwrap();
        assert_eq!(validator.finish(), Ok(()));
    }

    #[test]
    fn empty_chunks_are_harmless() {
        let mut validator = Utf8Validator::default();
        validator.feed(&[]).unwrap();
        validator.feed(&[0xF0, 0x9F]).unwrap();
        validator.feed(&[]).unwrap();
        validator.feed(&[0x98, 0x80]).unwrap();
        validator.finish().unwrap();
    }

    #[test]
    fn random_bytes_split_randomly_match_std() {
        let mut rng = fastrand::Rng::with_seed(0x00C0_FFEE);
        // Bytes drawn mostly from the interesting UTF-8 ranges.
        let alphabet: Vec<u8> = (0x00..0x08)
            .chain(0x7E..=0xC3)
            .chain(0xDE..=0xF5)
            .chain([0xFE, 0xFF])
            .collect();
        let mut valid_seen = 0;
        for _ in 0..20_000 {
            let len = rng.usize(0..12);
            let data: Vec<u8> = if rng.bool() {
                let s: String = (0..len).map(|_| rng.char(..)).collect();
                let mut bytes = s.into_bytes();
                if rng.u8(..4) == 0 && !bytes.is_empty() {
                    let i = rng.usize(..bytes.len());
                    bytes[i] = alphabet[rng.usize(..alphabet.len())];
                }
                bytes
            } else {
                (0..len)
                    .map(|_| alphabet[rng.usize(..alphabet.len())])
                    .collect()
            };
            let mut splits: Vec<usize> = (0..rng.usize(0..4))
                .map(|_| rng.usize(0..=data.len()))
                .collect();
            splits.sort_unstable();
            let expected = std::str::from_utf8(&data).is_ok();
            valid_seen += expected as usize;
            assert_eq!(
                validate_split(&data, &splits).is_ok(),
                expected,
                "{data:x?} split at {splits:?}"
            );
        }
        assert!(valid_seen > 5_000, "test should exercise valid inputs too");
    }
}
