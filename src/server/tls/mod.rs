//! TLS for `SSLApp`: options, certificate loading, SNI, and the server-side handshake, on
//! rustls (ring provider) and tokio-rustls. No napi types: the JS layer converts its
//! `AppOptions` object into a [`TlsOptions`] and calls into here.
//!
//! # How the Tokio connection layer uses it
//!
//! - `SSLApp(options)`: `TlsServer::new(&options)` once per app, kept in an `Arc` next to the
//!   app core. Errors are `TlsError`s whose message names the option, file and reason,
//!   fit to throw in JS as they are.
//! - Accept loop: for each accepted `TcpStream` (after `set_nodelay` etc.), spawn the
//!   connection task and there call
//!   `tokio::time::timeout(handshake_timeout, tls.accept(stream)).await`. `accept` reads the
//!   ClientHello, consults the SNI table, maybe the missing-name hook, and completes the
//!   handshake; on error or timeout just drop the socket (rustls has already sent an alert
//!   where one applies). Run the handshake in the connection's task, never in the accept
//!   loop: a slow client must not hold up the listener.
//! - The result is a `tokio_rustls::server::TlsStream<TcpStream>`, which implements
//!   `AsyncRead + AsyncWrite` but not `TcpStream`'s `readable()`/`try_read()`. The HTTP
//!   upgrade and WebSocket paths in `connection.rs` use those on a bare `TcpStream` today,
//!   so they need a stream abstraction (a generic `S: AsyncRead + AsyncWrite`, or an enum of
//!   plain/TLS) with `read_buf`/`write_all` for TLS. Writes to a `TlsStream` must be
//!   followed by `flush()`, which is what pushes the encrypted records to the socket.
//!   Shutdown: `shutdown().await` sends close_notify.
//! - `addServerName(host, options)`: `tls.add_server_name(host, &options)`;
//!   `removeServerName(host)`: `tls.remove_server_name(host)`.
//! - `missingServerName(cb)`: `tls.on_missing_server_name(|name| async move { .. })`. The hook
//!   runs on the I/O runtime in the handshaking connection's task. The napi side should
//!   call the JS callback through a threadsafe function and complete a
//!   `tokio::sync::oneshot` once the callback has returned (whether or not it called
//!   `addServerName`); the hook's future awaits that receiver. `accept` waits for it (bounded
//!   by `set_missing_server_name_timeout`, default 2 s) and then continues the same
//!   handshake, so a certificate added synchronously by the callback is used for the very
//!   client that asked, as in uWebSockets.js. While JS is busy, that handshake just waits;
//!   other connections are unaffected. Handshakes for the same unknown name at the same time
//!   share one call.
//! - Certificate renewal without restart: `tls.reload(&options)`; new handshakes use the new
//!   certificate and settings, established connections keep theirs.
//! - After the handshake, `stream.get_ref().1.alpn_protocol()` says what was negotiated
//!   (`Some(b"http/1.1")` or `None` when the client sent no ALPN); `h2` would dispatch there.
//!
//! # Module layout
//!
//! - `options`: [`TlsOptions`], [`ClientAuth`]
//! - `error`: [`TlsError`], [`Source`]
//! - `pem`: PEM scanning, certificate chains, private keys, passphrase decryption
//! - `ciphers`: `ssl_ciphers` (OpenSSL syntax) to rustls cipher suites
//! - `config`: [`load_certified_key`], [`build_server_config`], [`server_config`]
//! - `sni`: [`SniResolver`] (exact and wildcard names, rustls `ResolvesServerCert`)
//! - `acceptor`: [`TlsServer`] (reload, names, missing-name hook, `accept`)

mod acceptor;
pub mod ciphers;
mod config;
mod error;
mod options;
mod pem;
mod sni;

/// Test certificates and clients, also used by `tls_stream`'s tests.
#[cfg(test)]
pub(crate) mod tests;

pub use acceptor::{
    MissingServerNameFuture, MissingServerNameHook, TlsServer, DEFAULT_MISSING_NAME_TIMEOUT,
    MAX_PENDING_MISSING_NAMES,
};
pub use config::{
    build_server_config, load_certified_key, server_config, ALPN_PROTOCOLS,
    LOW_MEMORY_SEND_BUFFER_LIMIT,
};
pub use error::{Source, TlsError};
pub use options::{ClientAuth, TlsOptions};
pub use sni::{normalize_name, SniResolver};

/// Re-exported so the connection layer names the same versions this module builds with.
pub use rustls;
pub use tokio_rustls;
