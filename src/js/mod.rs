//! The napi surface: converts between JS values and the server layer, nothing else.

mod wake;

use crate::server::app::{AppCore, Behavior};
use crate::server::listener::{self, Listener};
use crate::server::{outbox, runtime};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;
use wake::JsWaker;

#[napi]
pub struct NativeApp {
    core: Arc<AppCore>,
    waker: JsWaker,
    listeners: Vec<Option<Listener>>,
    /// Large payloads of the batch last taken, until JS asks for them.
    large: Cell<Vec<Vec<u8>>>,
}

/// Options of a `.ws()` route, as passed by the JS layer (already defaulted).
#[napi(object)]
pub struct RouteOptions {
    pub max_payload_length: f64,
    pub idle_timeout: f64,
    pub send_pings_automatically: bool,
    pub max_backpressure: f64,
    pub has_ping_handler: bool,
    pub has_pong_handler: bool,
    pub has_drain_handler: bool,
}

#[napi(object)]
pub struct ListenResult {
    pub id: u32,
    pub port: u32,
}

#[napi]
impl NativeApp {
    /// `on_wake` is called (with no arguments) when events are queued; it calls `take()`.
    #[napi(constructor)]
    pub fn new(env: Env, on_wake: Function<'_>, io_threads: Option<u32>) -> Result<Self> {
        runtime::get(io_threads.map(|n| n as usize));
        let waker = unsafe { JsWaker::new(env.raw(), on_wake.raw()) }?;
        Ok(NativeApp {
            core: AppCore::new(Box::new(waker.clone())),
            waker,
            listeners: Vec::new(),
            large: Cell::new(Vec::new()),
        })
    }

    #[napi]
    pub fn add_route(&self, pattern: String, options: RouteOptions) -> u32 {
        let seconds = options.idle_timeout.max(0.0);
        let behavior = Behavior {
            max_payload_length: clamp_len(options.max_payload_length),
            idle_timeout: (seconds > 0.0).then(|| Duration::from_secs_f64(seconds)),
            send_pings_automatically: options.send_pings_automatically,
            max_backpressure: clamp_len(options.max_backpressure),
            has_ping_handler: options.has_ping_handler,
            has_pong_handler: options.has_pong_handler,
            has_drain_handler: options.has_drain_handler,
        };
        self.core.add_route(&pattern, behavior) as u32
    }

    /// Binds and starts accepting; `None` when the address cannot be bound.
    #[napi]
    pub fn listen(
        &mut self,
        host: Option<String>,
        port: u32,
        exclusive: bool,
    ) -> Option<ListenResult> {
        let port = u16::try_from(port).ok()?;
        let l = listener::listen(&self.core, host.as_deref(), port, exclusive).ok()?;
        let port = l.port as u32;
        self.listeners.push(Some(l));
        Some(ListenResult {
            id: (self.listeners.len() - 1) as u32,
            port,
        })
    }

    /// Closes a listener; returns false if it was already closed.
    #[napi]
    pub fn close_listener(&mut self, id: u32) -> bool {
        match self.listeners.get_mut(id as usize).and_then(Option::take) {
            Some(l) => {
                l.close();
                true
            }
            None => false,
        }
    }

    /// Takes the queued event records (zero copy: the buffer is handed to JS).
    #[napi]
    pub fn take(&self) -> Buffer {
        let batch = self.core.events.take();
        self.large.set(batch.large);
        Buffer::from(batch.records)
    }

    /// Payloads of the MESSAGE_LARGE records of the last batch taken, in order.
    #[napi]
    pub fn take_large<'env>(&self, env: &'env Env) -> Result<Vec<ArrayBuffer<'env>>> {
        self.large
            .take()
            .into_iter()
            .map(|v| ArrayBuffer::from_data(env, v))
            .collect()
    }

    /// Applies a packed buffer of sends and commands.
    #[napi]
    pub fn flush(&self, records: &[u8]) {
        outbox::dispatch(&self.core, records);
    }

    /// Sends one large frame without packing it first.
    #[napi]
    pub fn send_direct(&self, id: u32, opcode: u32, more: bool, payload: &[u8]) {
        outbox::send_direct(&self.core, id, opcode as u8, more, payload);
    }

    /// A live view of the bytes queued per connection id (read as a `Uint32Array`).
    #[napi]
    pub fn buffered_view<'env>(&self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
        let table = self.core.buffered.clone();
        let (ptr, len) = (table.as_ptr(), table.byte_len());
        // SAFETY: the memory belongs to `table`, which the finalizer keeps alive until the
        // ArrayBuffer is collected.
        unsafe { ArrayBuffer::from_external(env, ptr, len, table, |_, table| drop(table)) }
    }

    /// Keeps the process alive (true) or not (false) while this app has work.
    #[napi]
    pub fn set_ref(&self, env: Env, referenced: bool) {
        self.waker.set_ref(env.raw(), referenced);
    }
}

fn clamp_len(n: f64) -> usize {
    if n.is_nan() {
        0
    } else {
        n.clamp(0.0, usize::MAX as f64) as usize
    }
}
