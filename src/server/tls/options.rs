//! `TlsOptions`: the uWebSockets.js `AppOptions` as a plain Rust struct, plus in-memory PEM.

use std::fmt;
use std::path::PathBuf;

/// What to do with client certificates when a CA (`ca_file_name` / `ca`) is given.
/// Without a CA no client certificate is ever requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a certificate that chains to the CA, or the handshake fails.
    #[default]
    Required,
    /// A certificate is requested and, when one is presented, it must chain to the CA; a
    /// client that presents none is let in. This is what uWebSockets.js does (OpenSSL
    /// `SSL_VERIFY_PEER` without `SSL_VERIFY_FAIL_IF_NO_PEER_CERT`).
    Optional,
}

/// TLS options of `SSLApp(options)` and `addServerName(hostname, options)`.
///
/// The first seven fields mirror uWebSockets.js `AppOptions` (same names). `key_pem`,
/// `cert_pem` and `ca_pem` are the JS options `key`, `cert` and `ca` (a string or Buffer
/// holding PEM text), an alternative to the corresponding `*_file_name`; giving both forms
/// of one option is an error. `client_auth` is an rsws extension.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// PEM file with the private key (PKCS#8, PKCS#1 RSA, SEC1 EC, or encrypted PKCS#8).
    pub key_file_name: Option<PathBuf>,
    /// PEM file with the certificate chain, end-entity certificate first.
    pub cert_file_name: Option<PathBuf>,
    /// PEM file with the CA certificates client certificates are verified against.
    pub ca_file_name: Option<PathBuf>,
    /// Passphrase of an encrypted PKCS#8 key; ignored for unencrypted keys.
    pub passphrase: Option<Vec<u8>>,
    /// Accepted for compatibility and ignored: rustls offers only ECDHE key exchange, so
    /// finite-field DH parameters have no use.
    pub dh_params_file_name: Option<PathBuf>,
    /// OpenSSL-style cipher list, mapped onto the suites rustls offers (see `ciphers`).
    /// `None` or empty: rustls' defaults.
    pub ssl_ciphers: Option<String>,
    /// Trade some CPU for less memory per connection (see `config::LOW_MEMORY_*`).
    pub ssl_prefer_low_memory_usage: bool,
    /// In-memory PEM private key (JS `key`).
    pub key_pem: Option<Vec<u8>>,
    /// In-memory PEM certificate chain (JS `cert`).
    pub cert_pem: Option<Vec<u8>>,
    /// In-memory PEM CA certificates (JS `ca`).
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate policy when a CA is given.
    pub client_auth: ClientAuth,
}

impl TlsOptions {
    /// True when neither a key nor a certificate is configured (an `SSLApp` that serves
    /// only names added with `add_server_name`).
    pub fn has_no_certificate(&self) -> bool {
        self.key_file_name.is_none()
            && self.key_pem.is_none()
            && self.cert_file_name.is_none()
            && self.cert_pem.is_none()
    }
}

/// Keeps the passphrase and key material out of logs.
impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<Vec<u8>>| o.as_ref().map(|_| "<redacted>");
        let len = |o: &Option<Vec<u8>>| o.as_ref().map(|v| v.len());
        f.debug_struct("TlsOptions")
            .field("key_file_name", &self.key_file_name)
            .field("cert_file_name", &self.cert_file_name)
            .field("ca_file_name", &self.ca_file_name)
            .field("passphrase", &redacted(&self.passphrase))
            .field("dh_params_file_name", &self.dh_params_file_name)
            .field("ssl_ciphers", &self.ssl_ciphers)
            .field(
                "ssl_prefer_low_memory_usage",
                &self.ssl_prefer_low_memory_usage,
            )
            .field("key_pem", &redacted(&self.key_pem))
            .field("cert_pem_len", &len(&self.cert_pem))
            .field("ca_pem_len", &len(&self.ca_pem))
            .field("client_auth", &self.client_auth)
            .finish()
    }
}
