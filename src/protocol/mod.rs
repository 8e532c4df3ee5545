//! Sans-I/O RFC 6455 protocol core: framing, masking, UTF-8 validation,
//! message assembly, permessage-deflate, the HTTP upgrade handshake and an HTTP/1.1
//! server codec. No sockets, no runtime.

pub mod close;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod http1;
pub mod mask;
pub mod receiver;
pub mod utf8;

pub use frame::{
    encode_close_payload, encode_compressed_frame, encode_frame, encode_header, parse_header,
    FrameHeader, OpCode, MAX_HEADER_LEN,
};
pub use handshake::{
    accept_key, client_request, generate_key, parse_client_response, parse_upgrade_request,
    write_accept_response, write_status_response, HandshakeError, UpgradeRequest,
};
pub use mask::{apply_mask, apply_mask_offset};
pub use receiver::{CloseError, Handler, Payload, Receiver, Role};
pub use utf8::{Utf8Error, Utf8Validator};
