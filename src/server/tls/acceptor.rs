//! `TlsServer`: what an `SSLApp` holds. Its configuration, the SNI table, the
//! missing-server-name hook, and `accept`, which runs the server side of a handshake.

use super::config::{self, LOW_MEMORY_SEND_BUFFER_LIMIT};
use super::error::TlsError;
use super::options::TlsOptions;
use super::sni::{normalize_name, SniResolver};
use crate::server::lock;
use rustls::server::Acceptor;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

/// What the missing-server-name hook returns: a future that completes once the hook is
/// done (typically after JS ran its `missingServerName` callback, which may have called
/// `addServerName`).
pub type MissingServerNameFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Called with the (lowercased) name a client asked for when no certificate is registered
/// for it.
pub type MissingServerNameHook = Arc<dyn Fn(String) -> MissingServerNameFuture + Send + Sync>;

/// How long a handshake waits for the missing-server-name hook before going on without it.
pub const DEFAULT_MISSING_NAME_TIMEOUT: Duration = Duration::from_secs(2);

/// At most this many distinct unknown names are being asked about at once; handshakes for
/// further unknown names go on with the default certificate without calling the hook, so a
/// flood of random names cannot queue unbounded work for JS.
pub const MAX_PENDING_MISSING_NAMES: usize = 64;

/// The parts of the configuration that `reload` replaces together.
struct Settings {
    config: Arc<ServerConfig>,
    send_buffer_limit: Option<usize>,
}

pub struct TlsServer {
    resolver: Arc<SniResolver>,
    settings: RwLock<Arc<Settings>>,
    hook: RwLock<Option<MissingServerNameHook>>,
    hook_timeout_ms: AtomicU64,
    /// One entry per unknown name whose hook call is in flight; later handshakes for the same
    /// name wait on that call instead of making another.
    pending: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
}

impl TlsServer {
    /// Builds the server from the `SSLApp` options. With neither key nor certificate it
    /// serves only names added later (clients without a known name are refused).
    pub fn new(options: &TlsOptions) -> Result<Self, TlsError> {
        let resolver = Arc::new(SniResolver::new(None));
        let settings = Self::settings_for(options, &resolver)?;
        resolver.set_default(Self::default_key(options)?);
        Ok(TlsServer {
            resolver,
            settings: RwLock::new(Arc::new(settings)),
            hook: RwLock::new(None),
            hook_timeout_ms: AtomicU64::new(DEFAULT_MISSING_NAME_TIMEOUT.as_millis() as u64),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn default_key(
        options: &TlsOptions,
    ) -> Result<Option<Arc<rustls::sign::CertifiedKey>>, TlsError> {
        if options.has_no_certificate() {
            return Ok(None);
        }
        Ok(Some(Arc::new(config::load_certified_key(options)?)))
    }

    fn settings_for(
        options: &TlsOptions,
        resolver: &Arc<SniResolver>,
    ) -> Result<Settings, TlsError> {
        let config = config::server_config(options, resolver.clone())?;
        Ok(Settings {
            config: Arc::new(config),
            send_buffer_limit: options
                .ssl_prefer_low_memory_usage
                .then_some(LOW_MEMORY_SEND_BUFFER_LIMIT),
        })
    }

    /// Replaces the default certificate and the app-wide settings (ciphers, CA, memory) with
    /// those of `options`, for handshakes that start afterwards; connections already up keep
    /// theirs. Nothing changes when `options` fail to load. Names added with
    /// `add_server_name` are kept.
    pub fn reload(&self, options: &TlsOptions) -> Result<(), TlsError> {
        let settings = Self::settings_for(options, &self.resolver)?;
        let key = Self::default_key(options)?;
        self.resolver.set_default(key);
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
        Ok(())
    }

    /// Serves the certificate of `options` to clients asking for `hostname` (exact name or
    /// `*.example.com`); replaces an earlier entry for the same name. Only the key,
    /// certificate and passphrase of `options` are used: ciphers, CA and memory settings are
    /// app-wide (those given to `new`/`reload`).
    pub fn add_server_name(&self, hostname: &str, options: &TlsOptions) -> Result<(), TlsError> {
        let key = config::load_certified_key(options)?;
        self.resolver.add(hostname, Arc::new(key))
    }

    /// Stops serving a dedicated certificate for `hostname` (spelled as it was added);
    /// false if there was no such entry.
    pub fn remove_server_name(&self, hostname: &str) -> bool {
        self.resolver.remove(hostname)
    }

    /// The SNI table, also usable as a rustls `ResolvesServerCert`.
    pub fn resolver(&self) -> &Arc<SniResolver> {
        &self.resolver
    }

    /// The current `ServerConfig` (its certificate resolver is `resolver()`).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.settings().config.clone()
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs (or with `None` removes) the hook called when a client asks for a name that
    /// has no certificate. See `accept`.
    pub fn set_missing_server_name_hook(&self, hook: Option<MissingServerNameHook>) {
        *self.hook.write().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// `set_missing_server_name_hook` for a closure returning any `Send` future.
    pub fn on_missing_server_name<F, Fut>(&self, hook: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.set_missing_server_name_hook(Some(Arc::new(move |name| Box::pin(hook(name)))));
    }

    /// How long a handshake waits for the hook (default `DEFAULT_MISSING_NAME_TIMEOUT`).
    pub fn set_missing_server_name_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.hook_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Runs the server side of a TLS handshake on `io`.
    ///
    /// Reads the ClientHello first. If the client asks for a name that has no certificate
    /// and a missing-name hook is installed, calls the hook and waits for its future (at most
    /// the configured timeout; concurrent handshakes for the same name share one call), then
    /// continues the handshake with the current configuration, so a certificate the hook
    /// added is served to this very client. Otherwise the default certificate is used.
    ///
    /// Not bounded in time by itself: wrap it in the connection's handshake timeout.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        let name = start.client_hello().server_name().map(str::to_owned);
        if let Some(name) = name {
            self.ask_for_missing_name(&name).await;
        }
        let settings = self.settings();
        let limit = settings.send_buffer_limit;
        start
            .into_stream_with(settings.config.clone(), |conn| {
                if limit.is_some() {
                    conn.set_buffer_limit(limit);
                }
            })
            .await
    }

    async fn ask_for_missing_name(&self, name: &str) {
        if self.resolver.lookup(name).is_some() {
            return;
        }
        let Some(hook) = self
            .hook
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        let Ok(name) = normalize_name(name, false) else {
            return;
        };
        let cell = {
            let mut pending = lock(&self.pending);
            match pending.get(&name) {
                Some(cell) => cell.clone(),
                None if pending.len() >= MAX_PENDING_MISSING_NAMES => return,
                None => {
                    let cell = Arc::new(OnceCell::new());
                    pending.insert(name.clone(), cell.clone());
                    cell
                }
            }
        };
        let _cleanup = PendingGuard {
            pending: &self.pending,
            name: &name,
            cell: &cell,
        };
        let timeout = Duration::from_millis(self.hook_timeout_ms.load(Ordering::Relaxed));
        cell.get_or_init(|| async {
            // On timeout the hook's future is dropped; the handshake goes on regardless.
            let _ = tokio::time::timeout(timeout, hook(name.clone())).await;
        })
        .await;
    }
}

/// Takes a name's entry out of `pending` once its hook call is over, or when the last
/// handshake waiting on it goes away (cancelled), so the next handshake for a still-unknown
/// name asks again, as uWebSockets.js calls `missingServerName` each time.
struct PendingGuard<'a> {
    pending: &'a Mutex<HashMap<String, Arc<OnceCell<()>>>>,
    name: &'a str,
    cell: &'a Arc<OnceCell<()>>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = lock(self.pending);
        let ours = pending
            .get(self.name)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell));
        // Clones are made only under this lock: count 2 means the map and us.
        if ours && (self.cell.initialized() || Arc::strong_count(self.cell) <= 2) {
            pending.remove(self.name);
        }
    }
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("resolver", &self.resolver)
            .field("send_buffer_limit", &self.settings().send_buffer_limit)
            .finish_non_exhaustive()
    }
}
