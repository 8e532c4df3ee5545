//! The process-wide Tokio runtime that runs all network I/O, off the JS thread.
//! One runtime per process (not per App) so that apps in different worker threads share
//! the I/O threads.

use std::sync::OnceLock;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Default I/O thread count: one core is left for the JS thread, at most 8.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 8)
}

/// The runtime, created on first use with `threads` I/O threads (later values are ignored;
/// the environment variable `RSWS_IO_THREADS` overrides).
pub fn get(threads: Option<usize>) -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let n = std::env::var("RSWS_IO_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .or(threads)
            .unwrap_or_else(default_threads)
            .max(1);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .thread_name("rsws-io")
            .enable_all()
            .build()
            .expect("failed to start the rsws I/O runtime")
    })
}
