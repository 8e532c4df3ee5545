//! From `TlsOptions` to rustls: the certified key and the `ServerConfig`.

use super::ciphers;
use super::error::{Source, TlsError};
use super::options::{ClientAuth, TlsOptions};
use super::pem;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::sync::{Arc, OnceLock};

/// ALPN protocols offered, in preference order. Only HTTP/1.1 (the WebSocket upgrade needs
/// it); `h2` goes in front once the server speaks HTTP/2. A client that offers ALPN without
/// any of these is refused with a `no_application_protocol` alert (RFC 7301); a client that
/// offers no ALPN at all is served normally.
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"http/1.1"];

/// With `ssl_prefer_low_memory_usage`: the most TLS data rustls queues per connection for
/// sending before it pushes back on the writer (rustls' default is 64 KiB).
pub const LOW_MEMORY_SEND_BUFFER_LIMIT: usize = 16 * 1024;

/// The ring provider with rustls' default suites and key-exchange groups.
pub(crate) fn base_provider() -> &'static CryptoProvider {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    PROVIDER.get_or_init(rustls::crypto::ring::default_provider)
}

/// Loads the certificate chain and private key of `options` (`cert_file_name`/`cert` and
/// `key_file_name`/`key`, decrypting with `passphrase`) and checks that they belong together.
pub fn load_certified_key(options: &TlsOptions) -> Result<CertifiedKey, TlsError> {
    let (cert_source, cert_text) = pem::read_source(
        &options.cert_file_name,
        &options.cert_pem,
        "cert_file_name",
        "cert",
    )?
    .ok_or(TlsError::Missing {
        what: "no certificate: set cert_file_name (or cert)",
    })?;
    let (key_source, key_text) = pem::read_source(
        &options.key_file_name,
        &options.key_pem,
        "key_file_name",
        "key",
    )?
    .ok_or(TlsError::Missing {
        what: "no private key: set key_file_name (or key)",
    })?;
    let chain = pem::certificates(&cert_text, &cert_source)?;
    let key = pem::private_key(&key_text, &key_source, options.passphrase.as_deref())?;
    let signing_key = base_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::UnsupportedKey {
            source: key_source.clone(),
            reason: format!("{e} (supported: RSA, ECDSA P-256/P-384, Ed25519)"),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            key: key_source,
            cert: cert_source,
        }),
        Err(e) => Err(TlsError::BadCertificate {
            source: cert_source,
            reason: e.to_string(),
        }),
    }
}

/// A complete `ServerConfig` serving the one certificate of `options`: for callers that need
/// no SNI. `TlsServer` builds its configuration with `server_config` and its own resolver.
///
/// Note: the per-connection part of `ssl_prefer_low_memory_usage` (the send buffer limit)
/// cannot live in a `ServerConfig`; `TlsServer::accept` applies it.
pub fn build_server_config(options: &TlsOptions) -> Result<ServerConfig, TlsError> {
    let key = Arc::new(load_certified_key(options)?);
    server_config(options, Arc::new(rustls::sign::SingleCertAndKey::from(key)))
}

/// The `ServerConfig` for `options` (ciphers, client authentication, ALPN, memory settings)
/// taking its certificates from `resolver`. The certificate options are not read here.
pub fn server_config(
    options: &TlsOptions,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(ciphers::provider_with(
        base_provider(),
        options.ssl_ciphers.as_deref(),
    )?);
    let has13 = provider
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS13);
    let has12 = provider
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS12);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        has13.then_some(&rustls::version::TLS13),
        has12.then_some(&rustls::version::TLS12),
    ]
    .into_iter()
    .flatten()
    .collect();
    let rustls_error = |context: &'static str| {
        move |e: rustls::Error| TlsError::Rustls {
            context,
            error: e.to_string(),
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(rustls_error("TLS protocol versions"))?;
    let builder = match client_verifier(options, provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    if options.ssl_prefer_low_memory_usage {
        // Resumption through stateless tickets (encrypted and kept by the client) instead of
        // rustls' in-memory cache of up to 256 sessions per config.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.ticketer =
            rustls::crypto::ring::Ticketer::new().map_err(rustls_error("session tickets"))?;
    }
    Ok(config)
}

/// The client certificate verifier when a CA is configured.
fn client_verifier(
    options: &TlsOptions,
    provider: Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    let Some((source, text)) =
        pem::read_source(&options.ca_file_name, &options.ca_pem, "ca_file_name", "ca")?
    else {
        return Ok(None);
    };
    let roots = root_store(&text, &source)?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match options.client_auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .map(Some)
        .map_err(|e| TlsError::BadCertificate {
            source,
            reason: e.to_string(),
        })
}

fn root_store(text: &[u8], source: &Source) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in pem::certificates(text, source)? {
        roots.add(cert).map_err(|e| TlsError::BadCertificate {
            source: source.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}
