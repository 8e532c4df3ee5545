//! permessage-deflate (RFC 7692): the message codec.
//!
//! zlib comes from flate2 with the zlib-rs backend: the miniz_oxide backend
//! has no window sizes, and honouring a client's `server_max_window_bits`
//! needs them (uWS.js ignores it, a known interop complaint).

mod codec;

pub use codec::{compress_standalone, Deflater, InflateError, Inflater};
