//! The napi surface of `SSLApp`: TLS options from JS, server names, certificate reload and
//! the missing-server-name callback. The JS layer (`lib/ssl.js`) has already checked the
//! option types and turned in-memory PEM into Buffers.

use super::NativeApp;
use crate::server::tls::{ClientAuth, TlsOptions, TlsServer};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use std::sync::Arc;

/// uWS.js `AppOptions` (TLS part), camel-cased by the JS layer.
#[napi(object)]
pub struct SslOptions {
    pub key_file_name: Option<String>,
    pub cert_file_name: Option<String>,
    pub ca_file_name: Option<String>,
    pub dh_params_file_name: Option<String>,
    pub passphrase: Option<String>,
    pub ssl_ciphers: Option<String>,
    pub ssl_prefer_low_memory_usage: Option<bool>,
    /// In-memory PEM (the JS options `key`, `cert`, `ca`).
    pub key: Option<Buffer>,
    pub cert: Option<Buffer>,
    pub ca: Option<Buffer>,
}

impl From<SslOptions> for TlsOptions {
    fn from(o: SslOptions) -> Self {
        TlsOptions {
            key_file_name: o.key_file_name.map(Into::into),
            cert_file_name: o.cert_file_name.map(Into::into),
            ca_file_name: o.ca_file_name.map(Into::into),
            dh_params_file_name: o.dh_params_file_name.map(Into::into),
            passphrase: o.passphrase.map(String::into_bytes),
            ssl_ciphers: o.ssl_ciphers,
            ssl_prefer_low_memory_usage: o.ssl_prefer_low_memory_usage.unwrap_or(false),
            key_pem: o.key.map(|b| b.to_vec()),
            cert_pem: o.cert.map(|b| b.to_vec()),
            ca_pem: o.ca.map(|b| b.to_vec()),
            // As uWS.js: with a CA, a client certificate is asked for and checked when
            // given, but clients without one are let in.
            client_auth: ClientAuth::Optional,
        }
    }
}

/// The JS `missingServerName` callback, callable from the I/O threads. Weak: it does not
/// keep the process alive.
type MissingNameFn = ThreadsafeFunction<String, (), String, Status, false, true>;

fn js_error(e: impl std::fmt::Display) -> Error {
    Error::from_reason(e.to_string())
}

#[napi]
impl NativeApp {
    /// Makes this app an `SSLApp`: its listeners accept TLS. Throws what loading the
    /// certificate, key or CA failed with.
    #[napi(catch_unwind)]
    pub fn enable_tls(&self, options: SslOptions) -> Result<()> {
        let server = TlsServer::new(&options.into()).map_err(js_error)?;
        self.js
            .core
            .tls
            .set(Arc::new(server))
            .map_err(|_| Error::from_reason("TLS is already configured for this app"))
    }

    fn tls(&self) -> Result<&Arc<TlsServer>> {
        self.js
            .core
            .tls
            .get()
            .ok_or_else(|| Error::from_reason("not an SSLApp"))
    }

    /// Serves the certificate of `options` to clients asking for `hostname` (or a
    /// `*.example.com` pattern), replacing an earlier one.
    #[napi(catch_unwind)]
    pub fn add_server_name(&self, hostname: String, options: SslOptions) -> Result<()> {
        self.tls()?
            .add_server_name(&hostname, &options.into())
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn remove_server_name(&self, hostname: String) -> Result<bool> {
        Ok(self.tls()?.remove_server_name(&hostname))
    }

    /// Replaces the default certificate and app-wide TLS settings for new handshakes.
    #[napi(catch_unwind)]
    pub fn reload_certificate(&self, options: SslOptions) -> Result<()> {
        self.tls()?.reload(&options.into()).map_err(js_error)
    }

    /// Calls `cb(hostname)` on the JS thread when a client asks for a name without a
    /// certificate; the handshake goes on once it returned (so a certificate it added is
    /// used). `cb` must not throw (the JS layer reports exceptions itself). None removes it.
    #[napi(catch_unwind)]
    pub fn set_missing_server_name(&self, cb: Option<Function<'_, String, ()>>) -> Result<()> {
        let tls = self.tls()?;
        let Some(cb) = cb else {
            tls.set_missing_server_name_hook(None);
            return Ok(());
        };
        let tsfn: Arc<MissingNameFn> = Arc::new(
            cb.build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
        );
        tls.on_missing_server_name(move |name| {
            let tsfn = tsfn.clone();
            async move {
                // Err when JS is gone: the handshake goes on without the callback.
                let _ = tsfn.call_async(name).await;
            }
        });
        Ok(())
    }
}
