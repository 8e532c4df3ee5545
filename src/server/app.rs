//! One `App()`: its routes and their behaviours, listeners, open connections and the
//! event queue towards its JS thread.

use super::addresses::AddressTable;
use super::buffered::BufferedTable;
use super::conn::{ConnLink, ConnShared, DeliveryPolicy, SendDeflate};
use super::events::{kind, EventQueue, Waker};
use super::publish::PubSub;
use super::registry::Registry;
use super::router::{best_match, Pattern};
use super::upgrade::Pending;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Per-route options from the JS behaviour object.
#[derive(Clone, Debug)]
pub struct Behavior {
    pub max_payload_length: usize,
    pub idle_timeout: Option<Duration>,
    /// `maxLifetime`: the connection is closed (1006) this long after it opened.
    pub max_lifetime: Option<Duration>,
    pub send_pings_automatically: bool,
    /// uWS.js CompressOptions bits for permessage-deflate (0 = off).
    pub compression: u32,
    /// Bytes queued per socket past which sends and publishes are dropped (0 = none).
    pub max_backpressure: usize,
    pub close_on_backpressure_limit: bool,
    pub has_dropped_handler: bool,
    pub has_ping_handler: bool,
    pub has_pong_handler: bool,
    pub has_drain_handler: bool,
    pub has_upgrade_handler: bool,
    pub has_open_handler: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            max_payload_length: 16 * 1024,
            idle_timeout: Some(Duration::from_secs(120)),
            max_lifetime: None,
            compression: 0,
            send_pings_automatically: true,
            max_backpressure: 64 * 1024,
            close_on_backpressure_limit: false,
            has_dropped_handler: false,
            has_ping_handler: false,
            has_pong_handler: false,
            has_drain_handler: false,
            has_upgrade_handler: false,
            has_open_handler: false,
        }
    }
}

struct Route {
    pattern: Pattern,
    behavior: Behavior,
}

pub struct AppCore {
    pub events: Arc<EventQueue>,
    pub pubsub: Arc<PubSub>,
    /// Connections with publishes queued by this App's JS thread, written at its flush.
    pub dirty: Mutex<Vec<Arc<ConnShared>>>,
    /// Publishes of this App's JS thread not yet queued on their subscribers (see
    /// `publish.rs`): delivered together before anything else is written.
    pub recorded: Mutex<Vec<super::publish::Recorded>>,
    routes: RwLock<Vec<Route>>,
    pub registry: Mutex<Registry<ConnShared>>,
    pub buffered: Arc<BufferedTable>,
    /// `events` and `buffered`, for each connection to hold through one pointer.
    link: Arc<ConnLink>,
    /// Peer address per connection id, read by JS in place.
    pub addresses: Arc<AddressTable>,
    pub pending: Mutex<Pending>,
    /// Frame encoding scratch for flushes from the JS thread.
    pub scratch: Mutex<Vec<u8>>,
    /// Set by `app.close()`/`shutdown()`: handshakes in progress are refused.
    refusing: AtomicBool,
    /// While the App listens (and so keeps its JS thread alive anyway), connections on
    /// routes without `open` and `upgrade` handlers are reported to JS on their first
    /// event rather than at once (see [`super::conn::ConnShared::announce`]).
    deferring: AtomicBool,
    /// The JS App is gone (collected, or its worker thread ended): nobody will handle
    /// events or release slots, so connections clean up after themselves.
    orphaned: AtomicBool,
    /// `maxConnections` (0 = no limit) and the connections held now, handshakes included.
    max_connections: AtomicUsize,
    connections: AtomicUsize,
    /// HTTP routes and the connections serving them.
    pub http: super::http::HttpState,
    /// `SSLApp`: the TLS configuration its listeners accept with.
    pub tls: std::sync::OnceLock<Arc<super::tls::TlsServer>>,
    /// The runtime this App's sockets run on: a [`super::local::LocalRuntime`] of its JS
    /// thread (`ioThreads: 0`), or by default the process-wide one.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Readiness of this App's plain TCP connections (created by the first listener).
    #[cfg(target_os = "linux")]
    reactor: std::sync::OnceLock<Option<Arc<super::reactor::Reactor>>>,
}

/// A connection's place under `maxConnections`, given back when it is dropped.
pub struct Admission(Arc<AppCore>);

impl std::ops::Deref for Admission {
    type Target = Arc<AppCore>;
    fn deref(&self) -> &Arc<AppCore> {
        &self.0
    }
}

impl Drop for Admission {
    /// Once the App stops listening, JS holds its thread while the App holds any
    /// connection (as uWS.js's sockets hold its loop): the last one wakes JS to let go.
    fn drop(&mut self) {
        // SeqCst with the `deferring` store of `stop_deferring` and JS's read of the
        // count after it: either JS sees this decrement, or this sees the flag and wakes.
        if self.0.connections.fetch_sub(1, Ordering::SeqCst) == 1
            && !self.0.deferring.load(Ordering::SeqCst)
        {
            self.0.events.wake_js();
        }
    }
}

impl AppCore {
    pub fn new(waker: Box<dyn Waker>, pubsub: Arc<PubSub>) -> Arc<AppCore> {
        let events = Arc::new(EventQueue::new(waker));
        let buffered = Arc::new(BufferedTable::new());
        let http = super::http::HttpState::new(events.clone());
        Arc::new(AppCore {
            link: ConnLink::new(events.clone(), buffered.clone()),
            events,
            pubsub,
            dirty: Mutex::new(Vec::new()),
            recorded: Mutex::new(Vec::new()),
            routes: RwLock::new(Vec::new()),
            registry: Mutex::new(Registry::default()),
            buffered,
            addresses: Arc::new(AddressTable::new()),
            scratch: Mutex::new(Vec::new()),
            pending: Mutex::new(Pending::default()),
            refusing: AtomicBool::new(false),
            deferring: AtomicBool::new(false),
            orphaned: AtomicBool::new(false),
            max_connections: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            http,
            tls: std::sync::OnceLock::new(),
            runtime: std::sync::OnceLock::new(),
            #[cfg(target_os = "linux")]
            reactor: std::sync::OnceLock::new(),
        })
    }

    /// Runs this App's sockets on `handle` instead of the process-wide runtime (before
    /// it first listens).
    pub fn set_runtime(&self, handle: tokio::runtime::Handle) {
        let _ = self.runtime.set(handle);
    }

    /// Runs this App's sockets on its JS thread's runtime (`ioThreads: 0`), before it
    /// first listens.
    pub fn set_local(&self, local: super::local::LocalHandle) {
        #[cfg(target_os = "linux")]
        let _ = self.reactor.set(Some(local.reactor));
        self.set_runtime(local.runtime);
    }

    /// The runtime this App's listeners and connections run on.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        match self.runtime.get() {
            Some(handle) => handle.clone(),
            None => super::runtime::get(None).handle().clone(),
        }
    }

    /// The reactor of this App's plain TCP connections, on its runtime; None if the
    /// epoll instance could not be created (connections then register with Tokio).
    #[cfg(target_os = "linux")]
    pub fn reactor(&self) -> Option<&Arc<super::reactor::Reactor>> {
        self.reactor
            .get_or_init(|| super::reactor::Reactor::new(self.runtime()).ok())
            .as_ref()
    }

    /// Registers a `.ws()` route; returns its index (used in OPEN events).
    pub fn add_route(&self, pattern: &str, behavior: Behavior) -> usize {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.push(Route {
            pattern: Pattern::parse(pattern),
            behavior,
        });
        routes.len() - 1
    }

    /// The route for a path and its parameter values.
    pub fn route_for(&self, path: &str) -> Option<(usize, Vec<String>)> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        best_match(routes.iter().map(|r| &r.pattern), path)
    }

    pub fn behavior(&self, route: usize) -> Behavior {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes[route].behavior.clone()
    }

    pub fn set_max_connections(&self, max: usize) {
        self.max_connections.store(max, Ordering::Release);
    }

    /// Takes a place for a new connection; None when `maxConnections` are held.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let max = self.max_connections.load(Ordering::Acquire);
        let held = self.connections.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(self.clone());
        (max == 0 || held < max).then_some(admission)
    }

    /// Refuses (or again accepts) connections that have not completed their handshake.
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Release);
    }

    /// Refuses new connections, and returns once every connection registered before
    /// has its OPEN event queued (`open` registers and queues under the registry lock):
    /// `app.close()` dispatches the queue next, so JS knows every connection it closes.
    pub fn refuse_and_settle(&self) {
        self.set_refusing(true);
        self.stop_deferring();
    }

    /// Defers the OPEN events of connections on routes without `open` and `upgrade`
    /// handlers (the App listens).
    pub fn start_deferring(&self) {
        self.deferring.store(true, Ordering::SeqCst);
    }

    /// Stops deferring OPEN events (the App's last listener closed, so only the JS
    /// objects of its sockets keep its thread alive), and queues every deferred one:
    /// on return, every registered connection has its OPEN event queued.
    pub fn stop_deferring(&self) {
        self.deferring.store(false, Ordering::SeqCst);
        let registry = self.lock_registry();
        if registry.iter().any(|conn| conn.open_deferred()) {
            self.events.with_batch(|b| {
                for conn in registry.iter() {
                    conn.announce(b);
                }
            });
        }
    }

    /// The connections the App holds: open sockets, HTTP connections and handshakes.
    pub fn connections_held(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }

    /// Registers an open connection and reports it to JS; None when the App is full or
    /// closing.
    pub fn open(
        &self,
        stream: super::stream::Stream,
        route: usize,
        behavior: &Behavior,
        peer: SocketAddr,
        upgrade_id: u32,
        deflate: Option<SendDeflate>,
    ) -> Option<Arc<ConnShared>> {
        let policy = DeliveryPolicy::new(
            behavior.max_backpressure,
            behavior.close_on_backpressure_limit,
            behavior.has_dropped_handler,
        );
        let link = self.link.clone();
        let address = address_bytes(peer);
        let mut registry = self.lock_registry();
        // Checked under the registry lock, so `abandon` either sees this connection or
        // this check sees `abandon`'s flag, and `stop_deferring` either sees this
        // connection or this check sees its flag.
        if self.is_refusing() {
            return None;
        }
        let defer =
            upgrade_id == 0 && !behavior.has_open_handler && self.deferring.load(Ordering::Acquire);
        let conn = registry.insert_with(|id| {
            self.addresses.set(id, &address);
            Arc::new(ConnShared::new(
                stream,
                link,
                id,
                policy,
                deflate,
                defer.then_some(route as u16),
            ))
        })?;
        if !defer {
            // Queued under the registry lock: once `refuse_and_settle` returns, the OPEN
            // of every registered connection is in the queue for JS to dispatch.
            let id = conn.id();
            self.events
                .with_batch(|b| b.push(id, kind::OPEN, 0, route as u16, &upgrade_id.to_le_bytes()));
        }
        drop(registry);
        Some(conn)
    }

    /// Reports the end of a connection; JS releases the slot once it handled the event.
    /// The JS App is gone (see [`AppCore::abandon`]).
    pub fn is_orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Acquire)
    }

    pub fn closed(&self, conn: &ConnShared, code: u16, reason: &[u8]) {
        let id = conn.id();
        self.buffered.set(id, 0);
        if self.orphaned.load(Ordering::Acquire) {
            // No JS to release the slot: free it (and the socket) now.
            self.lock_registry().release(id);
            return;
        }
        conn.queue_event(kind::CLOSE, 0, code, reason);
    }

    /// The JS App is gone (its object was collected, or its thread's environment torn
    /// down): refuse new connections, drop every open one and every pending upgrade, so
    /// that the sockets close and nothing waits for a JS answer that cannot come.
    pub fn abandon(&self) {
        self.set_refusing(true);
        self.orphaned.store(true, Ordering::Release);
        self.lock_pending().abandon();
        self.http.close_connections(false);
        let conns: Vec<_> = self.lock_registry().iter().cloned().collect();
        for conn in conns {
            // Topics may be shared with apps in other threads: leave them now.
            super::publish::leave_all(self, &conn);
            conn.close_outbound();
            conn.set_command(super::conn::command::ABORT);
        }
    }

    pub fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        super::lock(&self.pending)
    }

    pub fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry<ConnShared>> {
        super::lock(&self.registry)
    }
}

/// A peer address as JS reads it: 16-byte IPv6 (IPv4 mapped) and the port, little endian.
pub fn address_bytes(peer: SocketAddr) -> [u8; 18] {
    let ip = match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    let mut out = [0u8; 18];
    out[..16].copy_from_slice(&ip.octets());
    out[16..].copy_from_slice(&peer.port().to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct CountWakes(Arc<AtomicU32>);
    impl Waker for CountWakes {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Connections are counted while admitted; the last one dropped wakes JS only when
    /// the App does not listen (JS then holds its thread for them).
    #[test]
    fn the_last_connection_wakes_js_when_not_listening() {
        let wakes = Arc::new(AtomicU32::new(0));
        let app = AppCore::new(
            Box::new(CountWakes(wakes.clone())),
            Arc::new(PubSub::default()),
        );
        app.start_deferring();
        let a = app.admit().unwrap();
        assert_eq!(app.connections_held(), 1);
        drop(a);
        assert_eq!(app.connections_held(), 0);
        assert_eq!(wakes.load(Ordering::SeqCst), 0, "listening: no wake");

        let a = app.admit().unwrap();
        let b = app.admit().unwrap();
        app.stop_deferring();
        drop(a);
        assert_eq!(wakes.load(Ordering::SeqCst), 0, "one still held");
        drop(b);
        assert_eq!(app.connections_held(), 0);
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "the last one wakes JS");
    }
}
