//! One `App()`: its routes and their behaviours, listeners, open connections and the
//! event queue towards its JS thread.

use super::conn::ConnShared;
use super::events::{kind, EventQueue, Waker};
use super::registry::Registry;
use super::router::{best_match, Pattern};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Per-route options from the JS behaviour object.
#[derive(Clone, Debug)]
pub struct Behavior {
    pub max_payload_length: usize,
    pub idle_timeout: Option<Duration>,
    pub send_pings_automatically: bool,
    pub has_ping_handler: bool,
    pub has_pong_handler: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            max_payload_length: 16 * 1024,
            idle_timeout: Some(Duration::from_secs(120)),
            send_pings_automatically: true,
            has_ping_handler: false,
            has_pong_handler: false,
        }
    }
}

struct Route {
    pattern: Pattern,
    behavior: Behavior,
}

pub struct AppCore {
    pub events: EventQueue,
    routes: RwLock<Vec<Route>>,
    pub registry: Mutex<Registry>,
    /// Frame encoding scratch for flushes from the JS thread.
    pub scratch: Mutex<Vec<u8>>,
}

impl AppCore {
    pub fn new(waker: Box<dyn Waker>) -> Arc<AppCore> {
        Arc::new(AppCore {
            events: EventQueue::new(waker),
            routes: RwLock::new(Vec::new()),
            registry: Mutex::new(Registry::default()),
            scratch: Mutex::new(Vec::new()),
        })
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

    pub fn route_for(&self, path: &str) -> Option<usize> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        best_match(routes.iter().map(|r| &r.pattern), path).map(|(i, _)| i)
    }

    pub fn behavior(&self, route: usize) -> Behavior {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes[route].behavior.clone()
    }

    /// Registers an open connection and reports it to JS.
    pub fn open(&self, conn: Arc<ConnShared>, route: usize, peer: SocketAddr) -> u32 {
        let id = self.lock_registry().insert(conn);
        let mut addr = [0u8; 18];
        let ip = match peer.ip() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        addr[..16].copy_from_slice(&ip.octets());
        addr[16..].copy_from_slice(&peer.port().to_le_bytes());
        self.events
            .with_batch(|b| b.push(id, kind::OPEN, 0, route as u16, &addr));
        id
    }

    /// Reports the end of a connection; JS releases the slot once it handled the event.
    pub fn closed(&self, id: u32, route: usize, code: u16, reason: &[u8]) {
        let _ = route;
        self.events
            .with_batch(|b| b.push(id, kind::CLOSE, 0, code, reason));
    }

    pub fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}
