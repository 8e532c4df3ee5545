//! HTTP routes (uWS.js `app.get(pattern, (res, req) => ...)` and friends) on the same
//! connections as the WebSocket upgrade.
//!
//! Every accepted connection starts here ([`serve`]): requests are read with the
//! sans-I/O [`http1`](crate::protocol::http1) codec. A request asking to upgrade on a
//! `.ws()` route (or any request for a `.ws()` path that no HTTP route matches, so that a
//! bad handshake is still answered as one) is handed back to the WebSocket path with the
//! bytes after it; other requests go to the JS handlers of the matching HTTP routes, or
//! get a `404` from here without a JS hop.
//!
//! A connection that served an HTTP request gets a slot (its id towards JS) and an
//! [`HttpConn`]: the socket's outbound queue (the same [`ConnShared`] accounting as
//! WebSockets, so JS reads the queued bytes per slot for `write`/`tryEnd` backpressure)
//! and the state of the current exchange. JS answers through packed records applied on
//! its own thread ([`dispatch`]), written straight to the socket when nothing is queued.
//!
//! One request at a time per connection: a pipelined request's handler starts only when
//! the previous response ended and its body was read (or discarded). Bodies stream to JS
//! only if the handler registered `onData` synchronously; otherwise they are read and
//! dropped here. Reading pauses while JS has too many events queued or called
//! `res.pause()`.
//!
//! [`ConnShared`]: super::conn::ConnShared

mod exchange;
/// Public for fuzz/ (the `connection` target turns heads into upgrades with it).
pub mod request;
mod task;
#[cfg(test)]
mod tests;

use super::buffered::BufferedTable;
use super::conn::ConnLink;
use super::events::EventQueue;
use super::registry::Registry;
use super::router::{ranked_matches, Pattern};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

pub use exchange::{dispatch, dispatch_one, op, HttpConn, FLAG_CLOSE, FLAG_HAS_LENGTH};
pub use task::serve;

/// An idle keep-alive connection is closed after this long without a new request
/// (uWS: `HTTP_IDLE_TIMEOUT_S`).
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body that stops arriving for this long ends the connection; so does a
/// response whose queued bytes the client does not read for this long.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read ahead (pipelined requests) while a response is pending.
const READ_AHEAD: usize = 64 * 1024;

struct Route {
    /// None: any method (`app.any`).
    method: Option<Box<str>>,
    pattern: Pattern,
}

/// The HTTP side of one App: routes, and the slots of connections serving HTTP.
pub struct HttpState {
    routes: RwLock<Vec<Route>>,
    slots: Mutex<Slots>,
    /// Bytes queued per slot, read by JS through an external Uint32Array.
    pub buffered: Arc<BufferedTable>,
    /// Shared by the HTTP connections: the App's event queue and `buffered`.
    link: Arc<ConnLink>,
    serial: AtomicU32,
}

impl HttpState {
    /// `events`: the App's event queue.
    pub fn new(events: Arc<EventQueue>) -> Self {
        let buffered = Arc::new(BufferedTable::new());
        HttpState {
            routes: RwLock::new(Vec::new()),
            slots: Mutex::new(Slots::default()),
            link: ConnLink::new(events, buffered.clone()),
            buffered,
            serial: AtomicU32::new(0),
        }
    }

    /// What the App's HTTP connections share.
    pub fn link(&self) -> Arc<ConnLink> {
        self.link.clone()
    }

    /// Registers a route for `method` (as sent, e.g. "GET"; None for any); returns its
    /// index, which REQUEST events name.
    pub fn add_route(&self, method: Option<&str>, pattern: &str) -> usize {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.push(Route {
            method: method.map(Into::into),
            pattern: Pattern::parse(pattern),
        });
        routes.len() - 1
    }

    /// The routes a request goes to, in the order uWS.js tries them (each handler may
    /// yield to the next): routes for the method, most specific first, then `any` routes.
    pub fn candidates(&self, method: &str, path: &str) -> Vec<(usize, Vec<String>)> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        if routes.is_empty() {
            return Vec::new();
        }
        let for_method = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.method.as_deref() == Some(method))
            .map(|(i, r)| (i, &r.pattern));
        let mut found = ranked_matches(for_method, path);
        let any = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.method.is_none())
            .map(|(i, r)| (i, &r.pattern));
        found.extend(ranked_matches(any, path));
        found
    }

    /// A new request's serial (never 0): JS answers name it, so answers to an earlier
    /// request on a reused slot are ignored.
    fn next_serial(&self) -> u32 {
        loop {
            let s = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if s != 0 {
                return s;
            }
        }
    }

    fn lock_slots(&self) -> MutexGuard<'_, Slots> {
        super::lock(&self.slots)
    }

    /// Frees a connection's slot (its task ended or handed the socket to a WebSocket).
    fn release(&self, slot: u32) {
        self.lock_slots().release(slot);
        self.buffered.set(slot, 0);
    }

    /// `app.close()` (`idle_only` false): every HTTP connection is dropped. `shutdown()`
    /// (`idle_only` true): connections waiting for a request are closed, pending
    /// responses may finish (and close the connection after them).
    pub fn close_connections(&self, idle_only: bool) {
        for conn in self.lock_slots().iter() {
            conn.close(idle_only);
        }
    }
}

/// Connections serving HTTP, by slot. Only the connection task inserts and removes; the
/// JS thread looks connections up under the lock and never keeps a clone, so the task
/// can take its socket back for a WebSocket upgrade.
type Slots = Registry<HttpConn>;
