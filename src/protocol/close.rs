//! Close status codes (RFC 6455 section 7.4).

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const UNSUPPORTED: u16 = 1003;
/// Reported locally when a close frame carried no code; never sent.
pub const NO_STATUS: u16 = 1005;
/// Reported locally when the connection dropped without a close frame; never sent.
pub const ABNORMAL: u16 = 1006;
pub const INVALID_PAYLOAD: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const INTERNAL: u16 = 1011;

/// Whether a peer may send `code` in a close frame. 1004-1006 and 1015 are
/// reserved for local use, and (like Autobahn case 7.9.x expects) codes in
/// 1012-2999 are treated as not allowed on the wire.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_close_code(code), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(code), "{code}");
        }
    }
}
