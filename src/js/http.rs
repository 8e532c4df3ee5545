//! The napi surface of HTTP routes: registering routes, the packed answers from JS, and
//! the per-slot queued-bytes view.

use super::NativeApp;
use crate::server::http;
use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi]
impl NativeApp {
    /// Registers an HTTP route for `method` (e.g. "GET"; none: any method); returns the
    /// route index that REQUEST events name.
    #[napi(catch_unwind)]
    pub fn http_route(&self, method: Option<String>, pattern: String) -> u32 {
        self.js.core.http.add_route(method.as_deref(), &pattern) as u32
    }

    /// One response record whose data is too large to pack (`size`: TRY_END's total or
    /// END_WITHOUT_BODY's reported length).
    #[napi(catch_unwind)]
    pub fn http_direct(&self, slot: u32, op: u32, flags: u32, serial: u32, size: f64, data: &[u8]) {
        let size = if size.is_finite() && size > 0.0 {
            size as u64
        } else {
            0
        };
        http::dispatch_one(
            &self.js.core,
            slot,
            op as u8,
            flags as u8,
            serial,
            size,
            data,
        );
    }

    /// A live view of the bytes queued per HTTP slot (read as a `Uint32Array`).
    #[napi(catch_unwind)]
    pub fn http_buffered_view<'env>(&self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
        let table = &self.js.core.http.buffered;
        // SAFETY: the table's own bytes.
        unsafe { super::view_of(env, table.as_ptr(), table.byte_len(), table.clone()) }
    }

    /// `app.close()` (false): drops every HTTP connection. `shutdown()` (true): closes
    /// idle ones; the others close after their response.
    #[napi(catch_unwind)]
    pub fn http_close(&self, idle_only: bool) {
        self.js.core.http.close_connections(idle_only);
    }
}
