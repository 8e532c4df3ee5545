//! rsws: a WebSocket server for Node.js with the uWebSockets.js API.
//!
//! Layers, each calling only downward: `protocol` (sans-I/O RFC 6455), `server` (Tokio
//! I/O), `js` (the napi binding). The JS layer lives in `index.js` and `lib/`.

pub mod protocol;
pub mod pubsub;
pub mod server;

#[cfg(feature = "napi-binding")]
mod js;

#[cfg(feature = "napi-binding")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
