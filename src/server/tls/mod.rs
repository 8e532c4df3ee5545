//! TLS for `SSLApp`: options, certificate loading and the rustls `ServerConfig`, on rustls
//! (ring provider). No napi types: the JS layer converts its `AppOptions` object into a
//! [`TlsOptions`] and calls into here.

pub mod ciphers;
mod config;
mod error;
mod options;
mod pem;

pub use config::{
    build_server_config, load_certified_key, server_config, ALPN_PROTOCOLS,
    LOW_MEMORY_SEND_BUFFER_LIMIT,
};
pub use error::{Source, TlsError};
pub use options::{ClientAuth, TlsOptions};

/// Re-exported so the connection layer names the same version this module builds with.
pub use rustls;
