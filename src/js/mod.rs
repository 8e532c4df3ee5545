//! The napi surface: converts between JS values and the server layer, nothing else.

mod fast;
mod local_loop;
mod tls;
mod wake;

use crate::server::addresses::ADDRESS_BYTES;
use crate::server::app::{AppCore, Behavior};
use crate::server::conn::ConnShared;
use crate::server::listener::{self, Listener};
use crate::server::publish::{self, PublishStats};
use crate::server::runtime;
use crate::server::slabs::SLAB_LEN;
use crate::server::upgrade::Decision;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use wake::JsWaker;

#[napi]
pub struct NativeApp {
    waker: JsWaker,
    listeners: Vec<Option<Listener>>,
    /// The App's core and JS-thread state, shared with the fast functions (`fast.rs`).
    js: Rc<JsSide>,
}

/// The App's state on its JS thread.
pub(crate) struct JsSide {
    core: Arc<AppCore>,
    /// Large payloads of the batch last taken, until JS asks for them.
    large: Cell<Vec<Vec<u8>>>,
    /// Large payloads of batches JS is dispatching, by handle (`takeLarge`): usually
    /// one, more while a handler takes the next batch.
    held: RefCell<Vec<Option<Vec<Vec<u8>>>>>,
    last_publish: Cell<PublishStats>,
}

impl JsSide {
    /// Takes queued event records: as many whole ones as fit copied into `inbox`, or a
    /// whole slab to read in place (see `inboxSlabs`). Returns
    /// `16 * length + 4 * where + 2 * large + more` (`where`: 0 = `inbox`, 1 + i = slab
    /// i; `large`: they have large payloads, fetch them with `takeLarge`; `more`: records
    /// remain queued, call again), 0 when nothing is queued, or -1 when the next record
    /// alone does not fit (nothing taken: call `take`).
    fn take_into(&self, inbox: &mut [u8]) -> i64 {
        match self.core.events.take_into(inbox) {
            Some(t) => {
                let has_large = !t.large.is_empty();
                self.large.set(t.large);
                let place = t.slab.map_or(0, |i| i as i64 + 1);
                (t.len as i64) * 16 + place * 4 + (has_large as i64) * 2 + t.more as i64
            }
            None => -1,
        }
    }

    /// Holds the last batch's large payloads under a handle for JS, or -1 if it had none.
    fn hold_large(&self) -> i64 {
        let large = self.large.take();
        if large.is_empty() {
            return -1;
        }
        let mut held = self.held.borrow_mut();
        let at = match held.iter().position(Option::is_none) {
            Some(at) => at,
            None => {
                held.push(None);
                held.len() - 1
            }
        };
        held[at] = Some(large);
        at as i64
    }

    /// Takes payload `index` of handle `handle` (each can be taken once).
    fn large_payload(&self, handle: u32, index: u32) -> Option<Vec<u8>> {
        let mut held = self.held.borrow_mut();
        let payload = held
            .get_mut(handle as usize)?
            .as_mut()?
            .get_mut(index as usize)?;
        // Large payloads are never empty: an empty one was taken already.
        (!payload.is_empty()).then(|| std::mem::take(payload))
    }

    /// Frees what is left of handle `handle`.
    fn release_large(&self, handle: u32) {
        if let Some(slot) = self.held.borrow_mut().get_mut(handle as usize) {
            *slot = None;
        }
    }

    /// The open connection `id` of this App.
    fn conn(&self, id: u32) -> Option<Arc<ConnShared>> {
        self.core.lock_registry().get(id).cloned()
    }

    /// Publishes to every subscriber except `sender` (-1: none); returns how many
    /// subscribers it found (sent, buffered or dropped). With `stats`, queued at once and
    /// `lastPublishStats()` splits them.
    fn publish(
        &self,
        topic: &str,
        sender: i32,
        binary: bool,
        compress: bool,
        stats: bool,
        payload: &[u8],
    ) -> u32 {
        let sender = u32::try_from(sender).ok().and_then(|id| self.conn(id));
        let outcome = publish::publish(
            &self.core,
            topic,
            binary,
            payload,
            compress,
            sender.as_ref(),
            stats,
        );
        if stats {
            self.last_publish.set(outcome);
        }
        outcome.reached() + outcome.dropped
    }
}

/// A topic and its subscriber count (a change's new count, or the current count).
#[napi(object)]
pub struct TopicCount {
    pub topic: String,
    pub count: u32,
}

/// Options of a `.ws()` route, as passed by the JS layer (already defaulted).
#[napi(object)]
pub struct RouteOptions {
    pub max_payload_length: f64,
    pub idle_timeout: f64,
    pub send_pings_automatically: bool,
    pub max_backpressure: f64,
    pub close_on_backpressure_limit: bool,
    pub has_dropped_handler: bool,
    pub has_ping_handler: bool,
    pub has_pong_handler: bool,
    pub has_drain_handler: bool,
    pub has_upgrade_handler: bool,
    pub has_open_handler: bool,
    /// Minutes; 0 disables.
    pub max_lifetime: f64,
    /// uWS.js CompressOptions bits (permessage-deflate); 0 disables.
    pub compression: u32,
}

#[napi(object)]
pub struct ListenResult {
    pub id: u32,
    pub port: u32,
}

#[napi]
impl NativeApp {
    /// `on_wake` is called (with no arguments) when events are queued; it calls `take()`.
    /// `pubsub`: the name of a process-wide topic space to join (apps in other worker
    /// threads that use the same name share topics); None for a private one.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        on_wake: Function<'_>,
        io_threads: Option<u32>,
        pubsub: Option<String>,
        max_connections: Option<u32>,
    ) -> Result<Self> {
        runtime::set_tidy(tidy_allocator);
        // `ioThreads: 0` (or RSWS_IO_THREADS=0): this thread's own runtime, on its event
        // loop; where that is unavailable, the process-wide runtime.
        let local = match runtime::threads_from_env() {
            Some(n) => n == 0,
            None => io_threads == Some(0),
        };
        let local = local.then(|| local_loop::handle(env.raw()).ok()).flatten();
        if local.is_none() {
            runtime::get(io_threads.map(|n| n as usize));
        }
        let waker = unsafe { JsWaker::new(env.raw(), on_wake.raw(), local.is_some()) }?;
        let core = AppCore::new(Box::new(waker.clone()), publish::engine(pubsub.as_deref()));
        if let Some(local) = local {
            core.set_local(local);
        }
        core.set_max_connections(max_connections.unwrap_or(0) as usize);
        Ok(NativeApp {
            js: Rc::new(JsSide {
                core,
                large: Cell::new(Vec::new()),
                held: RefCell::new(Vec::new()),
                last_publish: Cell::new(PublishStats::default()),
            }),
            waker,
            listeners: Vec::new(),
        })
    }

    #[napi(catch_unwind)]
    pub fn add_route(&self, pattern: String, options: RouteOptions) -> u32 {
        let behavior = Behavior {
            max_payload_length: clamp_len(options.max_payload_length),
            idle_timeout: duration(options.idle_timeout),
            max_lifetime: duration(options.max_lifetime * 60.0),
            compression: options.compression,
            send_pings_automatically: options.send_pings_automatically,
            max_backpressure: clamp_len(options.max_backpressure),
            close_on_backpressure_limit: options.close_on_backpressure_limit,
            has_dropped_handler: options.has_dropped_handler,
            has_ping_handler: options.has_ping_handler,
            has_pong_handler: options.has_pong_handler,
            has_drain_handler: options.has_drain_handler,
            has_upgrade_handler: options.has_upgrade_handler,
            has_open_handler: options.has_open_handler,
        };
        self.js.core.add_route(&pattern, behavior) as u32
    }

    /// Binds and starts accepting; `None` when the address cannot be bound.
    #[napi(catch_unwind)]
    pub fn listen(
        &mut self,
        host: Option<String>,
        port: u32,
        exclusive: bool,
    ) -> Option<ListenResult> {
        let port = u16::try_from(port).ok()?;
        self.js.core.set_refusing(false);
        let l = listener::listen(&self.js.core, host.as_deref(), port, exclusive).ok()?;
        let port = l.port as u32;
        self.listeners.push(Some(l));
        self.js.core.start_deferring();
        Some(ListenResult {
            id: (self.listeners.len() - 1) as u32,
            port,
        })
    }

    /// Listens on a Unix domain socket; `None` when the path cannot be bound (or on
    /// platforms without Unix sockets).
    #[napi(catch_unwind)]
    pub fn listen_unix(&mut self, path: String) -> Option<ListenResult> {
        self.js.core.set_refusing(false);
        #[cfg(unix)]
        let l = listener::listen_unix(&self.js.core, &path).ok()?;
        #[cfg(not(unix))]
        let l: Listener = {
            let _ = path;
            return None;
        };
        self.listeners.push(Some(l));
        self.js.core.start_deferring();
        Some(ListenResult {
            id: (self.listeners.len() - 1) as u32,
            port: 0,
        })
    }

    /// `app.close()`/`shutdown()`: closes every listener and refuses handshakes in
    /// progress (503), until the next `listen`. On return, the OPEN event of every
    /// connection already accepted is queued.
    #[napi(catch_unwind)]
    pub fn stop_accepting(&mut self) {
        self.js.core.refuse_and_settle();
        for l in self.listeners.iter_mut().filter_map(Option::take) {
            l.close();
        }
    }

    /// Closes a listener; returns false if it was already closed. After the last one,
    /// the OPEN event of every connection already accepted is queued (JS then holds
    /// its sockets, which keep the thread alive).
    #[napi(catch_unwind)]
    pub fn close_listener(&mut self, id: u32) -> bool {
        match self.listeners.get_mut(id as usize).and_then(Option::take) {
            Some(l) => {
                l.close();
                if self.listeners.iter().all(Option::is_none) {
                    self.js.core.stop_deferring();
                }
                true
            }
            None => false,
        }
    }

    /// The connections the App holds (sockets, HTTP connections, handshakes). When the
    /// App does not listen, JS keeps its thread alive while this is not 0; the drop to 0
    /// wakes it.
    #[napi]
    pub fn connections_held(&self) -> u32 {
        self.js.core.connections_held() as u32
    }

    /// Puts the functions of the event path on `target` (see `fast.rs`): `takeInto`,
    /// `takeLarge`, `largeMessage`, `releaseLarge`, `flush`, `sendDirect`, `publish`,
    /// `publishText`, `subscribe`, `unsubscribe`, `isSubscribed`, `leaveAll` and
    /// `httpFlush`.
    #[napi(catch_unwind)]
    pub fn install_fast_calls(&self, env: &Env, target: Object<'_>) -> Result<()> {
        // SAFETY: both valid for this call from JS.
        if unsafe { fast::install(env.raw(), target.raw(), &self.js) } {
            Ok(())
        } else {
            Err(Error::from_reason(
                "failed to create the rsws event-path functions",
            ))
        }
    }

    /// The two slabs `takeInto` may hand batches in, as external ArrayBuffers (call once
    /// per App). A slab's bytes are valid until the next `takeInto` or `take`.
    #[napi(catch_unwind)]
    pub fn inbox_slabs<'env>(&self, env: &'env Env) -> Result<Vec<ArrayBuffer<'env>>> {
        let slabs = self.js.core.events.lend_slabs();
        (0..2)
            .map(|i| {
                // SAFETY: a slab is SLAB_LEN bytes owned by `slabs`.
                unsafe { view_of(env, slabs.as_ptr(i), SLAB_LEN, slabs.clone()) }
            })
            .collect()
    }

    /// Takes the queued event records (zero copy: the buffer is handed to JS).
    #[napi(catch_unwind)]
    pub fn take(&self) -> Buffer {
        let batch = self.js.core.events.take();
        self.js.large.set(batch.large);
        Buffer::from(batch.records)
    }

    /// A live view of the bytes queued per connection id (read as a `Uint32Array`).
    #[napi(catch_unwind)]
    pub fn buffered_view<'env>(&self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
        let table = &self.js.core.buffered;
        // SAFETY: the table's own bytes.
        unsafe { view_of(env, table.as_ptr(), table.byte_len(), table.clone()) }
    }

    /// The peer addresses of ids below `ids`, 18 bytes each (see `server::addresses`).
    /// JS asks for a longer view as ids grow: V8 counts a view's whole length as external
    /// memory, and the table has room for a million ids.
    #[napi(catch_unwind)]
    pub fn address_view<'env>(&self, env: &'env Env, ids: u32) -> Result<ArrayBuffer<'env>> {
        let table = &self.js.core.addresses;
        let len = (ids.max(1) as usize * ADDRESS_BYTES).min(table.byte_len());
        // SAFETY: at most the table's own bytes.
        unsafe { view_of(env, table.as_ptr(), len, table.clone()) }
    }

    /// `res.upgrade()`: completes a pending upgrade with a 101. `headers` are name/value
    /// pairs, flattened. False if the client already went away.
    #[napi(catch_unwind)]
    pub fn accept_upgrade(
        &self,
        id: u32,
        key: String,
        protocol: Option<String>,
        extensions: Option<String>,
        headers: Vec<String>,
    ) -> bool {
        let decision = Decision::Accept {
            protocol: protocol.filter(|p| !p.is_empty()),
            extensions: extensions.unwrap_or_default(),
            extra_headers: pairs(headers),
            key,
        };
        self.js.core.lock_pending().answer(id, decision)
    }

    /// `res.end()` on an upgrade request: answers it with this response instead.
    #[napi(catch_unwind)]
    pub fn reject_upgrade(
        &self,
        id: u32,
        status_line: String,
        headers: Vec<String>,
        body: &[u8],
    ) -> bool {
        let decision = Decision::Reject {
            status_line,
            headers: pairs(headers),
            body: body.to_vec(),
        };
        self.js.core.lock_pending().answer(id, decision)
    }

    fn conn(&self, id: u32) -> Result<Arc<ConnShared>> {
        self.js
            .conn(id)
            .ok_or_else(|| Error::from_reason(CLOSED.to_str().unwrap_or_default()))
    }

    #[napi(catch_unwind)]
    pub fn topics_of(&self, id: u32) -> Result<Vec<String>> {
        let conn = self.conn(id)?;
        Ok(conn.topics().iter().map(|t| t.to_string()).collect())
    }

    /// `[sent, buffered, dropped]` of the last publish.
    #[napi(catch_unwind)]
    pub fn last_publish_stats(&self) -> Vec<u32> {
        let s = self.js.last_publish.get();
        vec![s.sent, s.buffered, s.dropped]
    }

    #[napi(catch_unwind)]
    pub fn num_subscribers(&self, topic: String) -> u32 {
        self.js.core.pubsub.count(&topic) as u32
    }

    /// Every topic with its subscriber count.
    #[napi(catch_unwind)]
    pub fn topic_counts(&self) -> Vec<TopicCount> {
        self.js
            .core
            .pubsub
            .topics()
            .into_iter()
            .map(|(t, n)| TopicCount {
                topic: t.to_string(),
                count: n as u32,
            })
            .collect()
    }

    /// Ids of this App's sockets subscribed to `topic`.
    #[napi(catch_unwind)]
    pub fn subscribers(&self, topic: String) -> Vec<u32> {
        self.js
            .core
            .pubsub
            .subscribers(&topic)
            .iter()
            .filter(|c| c.belongs_to(&self.js.core.events))
            .map(|c| c.id())
            .collect()
    }

    /// Keeps the process alive (true) or not (false) while this app has work.
    #[napi(catch_unwind)]
    pub fn set_ref(&self, env: Env, referenced: bool) {
        self.waker.set_ref(env.raw(), referenced);
    }

    /// TEST ONLY (`__test__/reliability.test.js`): makes the I/O task of connection `id`
    /// panic, to prove that a panicking task ends only its own connection. False if the
    /// connection is gone. Not part of the API; never call it in an application.
    #[napi(catch_unwind, js_name = "__panicConnectionForTest")]
    pub fn panic_connection_for_test(&self, id: u32) -> bool {
        match self.js.core.lock_registry().get(id) {
            Some(conn) => {
                conn.set_command(crate::server::conn::command::PANIC_FOR_TEST);
                true
            }
            None => false,
        }
    }
}

/// TEST ONLY (`__test__/reliability.test.js`): panics inside a napi call, to prove that a
/// Rust panic reaches JS as an `Error` instead of aborting the process. Not part of the
/// API; never call it in an application.
#[napi(catch_unwind, js_name = "__panicForTest")]
// Only JS calls it: napi-derive leaves free functions unregistered under `cargo test`.
#[cfg_attr(test, allow(dead_code))]
pub fn panic_for_test(message: String) {
    panic!("{message}");
}

/// The JS App is gone: collected by the GC, or its worker thread's environment torn down
/// (napi-rs drops the struct in the object's finalizer, which Node also runs at
/// environment teardown). Without this an App that was closed and dropped would keep its
/// threadsafe function, and with it the JS App, its queues and tables, forever; and a
/// terminated worker's listeners and connections would keep running with nobody to
/// serve them.
impl Drop for NativeApp {
    fn drop(&mut self) {
        self.waker.release();
        for l in self.listeners.drain(..).flatten() {
            l.close();
        }
        self.js.core.abandon();
    }
}

impl NativeApp {}

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
}

/// The error of a call on a socket that is gone (uWS.js's words, without its class name).
const CLOSED: &std::ffi::CStr = c"Invalid access of closed WebSocket";

fn clamp_len(n: f64) -> usize {
    if n.is_nan() {
        0
    } else {
        n.clamp(0.0, usize::MAX as f64) as usize
    }
}

/// A timeout from JS seconds: None for 0 (disabled); huge values saturate instead of
/// panicking.
fn duration(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds <= 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(u32::MAX as u64)))
}

extern "C" {
    /// mimalloc (the global allocator, statically linked through the `mimalloc` crate).
    fn mi_collect(force: bool);
}

/// Frees the calling thread's empty allocator pages and purges them now, instead of after
/// mimalloc's purge delay on later allocator activity (see `runtime::handshake_done`).
fn tidy_allocator() {
    // SAFETY: mi_collect only works on the calling thread's own heap and the arenas.
    unsafe { mi_collect(true) }
}

// After NativeApp: napi-derive must see the struct before another `impl` block of it.
mod http;

/// An ArrayBuffer over `len` bytes at `ptr` that holds `owner` until it is collected.
///
/// # Safety
/// The bytes must belong to `owner` (valid and not moved while it lives), and JS may read
/// and write them.
unsafe fn view_of<'env, T: 'static>(
    env: &'env Env,
    ptr: *mut u8,
    len: usize,
    owner: Arc<T>,
) -> Result<ArrayBuffer<'env>> {
    // SAFETY: valid while `owner` lives (the caller's contract), and the finalizer keeps
    // it alive until the ArrayBuffer is collected.
    unsafe { ArrayBuffer::from_external(env, ptr, len, owner, |_, owner| drop(owner)) }
}
