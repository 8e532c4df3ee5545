//! permessage-deflate (RFC 7692): the uWS.js compression options,
//! negotiation from the client's offers, and the message codec.
//!
//! A server calls [`negotiate`] with its option bits and the request's
//! `Sec-WebSocket-Extensions` value; on `Some`, it sends
//! `response_header` back, gives the receiver [`Negotiated::inflater`]
//! (`Receiver::set_inflater`), and compresses outgoing messages with
//! [`Negotiated::deflater`] or, for one frame shared by many connections,
//! [`compress_standalone`].
//!
//! zlib comes from flate2 with the zlib-rs backend: the miniz_oxide backend
//! has no window sizes, and honouring a client's `server_max_window_bits`
//! needs them (uWS.js declines such offers, uWebSockets.js issue #233, so
//! clients that always send one get no compression there).

mod codec;
mod header;
mod negotiate;
pub mod options;

pub use codec::{compress_standalone, Deflater, InflateError, Inflater};
pub use negotiate::{negotiate, Negotiated};
