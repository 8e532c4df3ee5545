//! The process-wide Tokio runtime that runs all network I/O, off the JS thread.
//! One runtime per process (not per App) so that apps in different worker threads share
//! the I/O threads.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Returns the calling thread's freed allocator pages to the OS (set by the binding, which
/// owns the global allocator).
static TIDY: OnceLock<fn()> = OnceLock::new();
/// At most one tidy per I/O thread this often.
const TIDY_INTERVAL: Duration = Duration::from_millis(50);

thread_local! {
    static LAST_TIDY: Cell<Option<Instant>> = const { Cell::new(None) };
}

pub fn set_tidy(f: fn()) {
    let _ = TIDY.set(f);
}

/// A handshake ended and freed its transient state (a few KiB). An I/O thread that goes
/// idle right after a connection storm would otherwise keep all of it resident: the
/// allocator purges freed pages lazily, on later allocator work that an idle thread never
/// does.
pub fn handshake_done() {
    tidy_rate_limited();
}

/// An open connection ended: its state is freed (its task's right after this). One tidy
/// follows an interval later, however many connections close meanwhile, so a mass
/// disconnect does not leave the memory of every closed connection resident on an idle
/// I/O thread.
pub fn connection_closed() {
    if TIDY.get().is_some() {
        tidy_later();
    }
}

/// Tidies now, or one interval later if this thread tidied less than an interval ago.
fn tidy_rate_limited() {
    let Some(tidy) = TIDY.get() else { return };
    let now = Instant::now();
    LAST_TIDY.with(|last| {
        if last
            .get()
            .is_some_and(|t| now.duration_since(t) < TIDY_INTERVAL)
        {
            tidy_later();
            return;
        }
        last.set(Some(now));
        tidy();
    });
}

/// One rate-limited tidy an interval from now (at most one pending per thread, as the
/// memory a tidy returns is the calling thread's), so that what the last interval freed
/// does not stay resident either.
fn tidy_later() {
    thread_local! {
        static PENDING: Arc<AtomicBool> = Arc::new(AtomicBool::new(false));
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let pending = PENDING.with(Arc::clone);
    if pending.swap(true, Ordering::AcqRel) {
        return;
    }
    /// Clears the flag however the task ends: also when its runtime (an App's local one)
    /// is dropped before it ran.
    struct Pending(Arc<AtomicBool>);
    impl Drop for Pending {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let pending = Pending(pending);
    super::local::spawn_on(&handle, async move {
        tokio::time::sleep(TIDY_INTERVAL).await;
        drop(pending);
        tidy_rate_limited();
    });
}

/// Default I/O thread count: one core is left for the JS thread, at most 8.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 8)
}

/// The I/O thread count set by the environment variable `RSWS_IO_THREADS`, if any.
pub fn threads_from_env() -> Option<usize> {
    std::env::var("RSWS_IO_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The runtime, created on first use with `threads` I/O threads (later values are ignored;
/// the environment variable `RSWS_IO_THREADS` overrides).
pub fn get(threads: Option<usize>) -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let n = threads_from_env()
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

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TIDIED: Cell<u32> = const { Cell::new(0) };
    }

    fn count_tidy() {
        TIDIED.with(|n| n.set(n.get() + 1));
    }

    #[test]
    fn handshake_tidy_is_rate_limited_per_thread() {
        set_tidy(count_tidy);
        // Only the binding's NativeApp sets the hook otherwise, and Rust tests create none.
        std::thread::spawn(|| {
            handshake_done();
            handshake_done();
            handshake_done();
            assert_eq!(TIDIED.with(Cell::get), 1, "once per interval");
            std::thread::sleep(TIDY_INTERVAL + Duration::from_millis(10));
            handshake_done();
            assert_eq!(TIDIED.with(Cell::get), 2, "again after the interval");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn skipped_tidies_and_closes_get_one_tidy_an_interval_later() {
        set_tidy(count_tidy);
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                handshake_done();
                handshake_done(); // skipped: a trailing tidy is scheduled
                handshake_done(); // skipped: one is already pending
                assert_eq!(TIDIED.with(Cell::get), 1);
                tokio::time::sleep(TIDY_INTERVAL * 2).await;
                assert_eq!(TIDIED.with(Cell::get), 2, "the trailing tidy ran");
                tokio::time::sleep(TIDY_INTERVAL * 2).await;
                assert_eq!(TIDIED.with(Cell::get), 2, "and only one");
                // Closes tidy one interval after the first of them, not at once.
                connection_closed();
                connection_closed();
                assert_eq!(TIDIED.with(Cell::get), 2);
                tokio::time::sleep(TIDY_INTERVAL * 2).await;
                assert_eq!(TIDIED.with(Cell::get), 3, "one tidy after the closes");
            });
        })
        .join()
        .unwrap();
    }
}
