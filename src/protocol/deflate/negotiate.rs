//! Server-side permessage-deflate negotiation (RFC 7692 section 7.1).
//!
//! The client lists offers in preference order; we accept the first valid
//! `permessage-deflate` offer. An offer is invalid, and skipped, when it has
//! a parameter the RFC does not define for offers, a parameter twice, a
//! value on a parameter that takes none, or a window outside 8..=15 (written
//! in decimal without leading zeros, quoted or not). Every valid offer can be
//! accepted, including `server_max_window_bits=8`; see [`negotiate`].

use std::fmt::Write;

use super::codec::{Deflater, Inflater};
use super::header::{extensions, Param};
use super::options::Wanted;

/// Agreed parameters of a connection, and the response header announcing them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Value for the `Sec-WebSocket-Extensions` response header.
    pub response_header: String,
    /// Every server message is compressed on its own.
    pub server_no_context_takeover: bool,
    /// Every client message is compressed on its own.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window the server may use, 8..=15.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window the client may use, 8..=15.
    pub client_max_window_bits: u8,
}

impl Negotiated {
    /// The compressor for this connection's outgoing messages.
    pub fn deflater(&self) -> Deflater {
        Deflater::new(self.server_max_window_bits, self.server_no_context_takeover)
    }

    /// The decompressor for this connection's incoming messages.
    pub fn inflater(&self) -> Inflater {
        Inflater::new(self.client_no_context_takeover)
    }
}

/// Accepts the first valid permessage-deflate offer in `offer_header` (the
/// raw `Sec-WebSocket-Extensions` request value, repeated headers joined
/// with commas) under the uWS.js `compression` option bits `options`.
/// None when compression is disabled or nothing acceptable was offered.
///
/// - `server_no_context_takeover` is granted when asked, and added when the
///   server uses a shared compressor (the RFC lets a server add it).
/// - `client_no_context_takeover` likewise, added for a shared decompressor.
/// - `server_max_window_bits=N` is honoured with min(N, our window), so a
///   client that cannot hold a large window gets what it asked for. When
///   not asked we do not announce our window (the RFC allows it, but it
///   would only let the client shrink its inflate window). zlib
///   cannot compress raw deflate with an 8-bit window; we answer 8 and
///   compress with 9, which is safe because zlib (zlib-rs included) never
///   emits a distance beyond its window minus 262 bytes: 250 for 9 bits,
///   within the 256 bytes the client keeps. A test checks this.
/// - `client_max_window_bits` (with or without a value) lets us limit the
///   client to the dedicated decompressor's window (or to the client's own
///   smaller value); we answer it when the agreed window is below 15.
///   Without the offer the RFC forbids the parameter in the response, and
///   the client may use 15.
pub fn negotiate(options: u32, offer_header: &str) -> Option<Negotiated> {
    let wanted = Wanted::from_options(options)?;
    extensions(offer_header)
        .filter_map(Result::ok)
        .filter(|extension| extension.name.eq_ignore_ascii_case("permessage-deflate"))
        .find_map(|extension| Offer::parse(&extension.params))
        .map(|offer| accept(wanted, offer))
}

/// A valid permessage-deflate offer.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// Some(15) when offered without a value: the client can take a limit.
    client_max_window_bits: Option<u8>,
}

impl Offer {
    fn parse(params: &[Param<'_>]) -> Option<Offer> {
        let mut offer = Offer::default();
        for (index, param) in params.iter().enumerate() {
            let repeated = params[..index]
                .iter()
                .any(|earlier| earlier.name.eq_ignore_ascii_case(param.name));
            if repeated {
                return None;
            }
            let value = param.value.as_deref();
            let name = param.name.to_ascii_lowercase();
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) => offer.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => offer.client_no_context_takeover = true,
                ("server_max_window_bits", Some(value)) => {
                    offer.server_max_window_bits = Some(window_bits(value)?);
                }
                ("client_max_window_bits", None) => offer.client_max_window_bits = Some(15),
                ("client_max_window_bits", Some(value)) => {
                    offer.client_max_window_bits = Some(window_bits(value)?);
                }
                _ => return None,
            }
        }
        Some(offer)
    }
}

/// "8" to "15": decimal, no sign, no leading zeros.
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

fn accept(wanted: Wanted, offer: Offer) -> Negotiated {
    let server_no_context_takeover =
        offer.server_no_context_takeover || wanted.compressor_window.is_none();
    let client_no_context_takeover =
        offer.client_no_context_takeover || wanted.decompressor_window.is_none();
    let server_window = wanted.compressor_window.unwrap_or(15);
    let server_max_window_bits = offer
        .server_max_window_bits
        .map_or(server_window, |asked| asked.min(server_window));
    let client_window = wanted.decompressor_window.unwrap_or(15);
    let client_max_window_bits = offer
        .client_max_window_bits
        .map_or(15, |offered| offered.min(client_window));

    let mut response_header = String::from("permessage-deflate");
    if server_no_context_takeover {
        response_header.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response_header.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() {
        let _ = write!(
            response_header,
            "; server_max_window_bits={server_max_window_bits}"
        );
    }
    if client_max_window_bits < 15 {
        let _ = write!(
            response_header,
            "; client_max_window_bits={client_max_window_bits}"
        );
    }
    Negotiated {
        response_header,
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    }
}

#[cfg(test)]
mod tests;
