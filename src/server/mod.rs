//! The Tokio server layer: listeners, per-connection tasks driving the protocol core,
//! the event queue to JS and the outbox from JS. No napi here.

pub mod addresses;
pub mod app;
pub mod buffered;
pub mod conn;
pub mod connection;
pub mod events;
pub mod http;
pub mod listener;
pub mod local;
pub mod outbox;
pub mod pages;
pub mod publish;
#[cfg(target_os = "linux")]
pub mod reactor;
pub mod record;
pub mod registry;
pub mod router;
pub mod runtime;
pub mod signal;
pub mod slabs;
pub mod stream;
pub mod tls;
pub mod tls_stream;
pub mod upgrade;
pub mod write_queue;
pub mod ws_timer;

/// Locks `m`, also after a panic elsewhere poisoned it: the data behind this layer's
/// mutexes stays consistent at every unlock.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
