//! `ioThreads: 0`: the sockets of a JS thread's Apps run on that thread's libuv loop.
//! One [`LocalRuntime`] per JS thread (the main thread and each worker), created by its
//! first such App: `uv_poll` handles watch the runtime's epoll descriptor and its
//! reactor's (the Apps' TCP sockets) and drive the runtime when either is readable, and a
//! repeating `uv_timer` drives it for Tokio's
//! timers (idle timeouts, closing handshakes). Both handles are unreferenced: what keeps
//! the thread alive stays the App's own reference (listening, open sockets), as with I/O
//! threads. The environment's cleanup closes the handles and drops the runtime.

use crate::server::local::{LocalHandle, LocalRuntime};
use napi::sys;
use std::cell::RefCell;
use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(
        handle: *mut c_void,
        events: c_int,
        cb: unsafe extern "C" fn(*mut c_void, c_int, c_int),
    ) -> c_int;
    fn uv_timer_init(lp: *mut c_void, handle: *mut c_void) -> c_int;
    fn uv_timer_start(
        handle: *mut c_void,
        cb: unsafe extern "C" fn(*mut c_void),
        timeout: u64,
        repeat: u64,
    ) -> c_int;
    fn uv_timer_stop(handle: *mut c_void) -> c_int;
    fn uv_unref(handle: *mut c_void);
    fn uv_close(handle: *mut c_void, cb: unsafe extern "C" fn(*mut c_void));
}

const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;
/// How often Tokio's timers are looked at (their resolution in this mode). rsws's own
/// timeouts are a second or more; uSockets ticks every 4 s for the same purpose.
const TICK_MS: u64 = 25;

struct Driver {
    env: sys::napi_env,
    local: LocalRuntime,
    poll: *mut c_void,
    /// Watches the runtime's reactor (its sockets' events) besides the runtime itself.
    #[cfg(target_os = "linux")]
    sockets: *mut c_void,
    timer: *mut c_void,
    /// The timer runs: while any task lives on the runtime.
    ticking: std::cell::Cell<bool>,
}

thread_local! {
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
}

/// The handle of this JS thread's runtime, created (and hooked to `env`'s loop) on first
/// use. Fails where the mode is unavailable (not Linux).
pub fn handle(env: sys::napi_env) -> std::io::Result<LocalHandle> {
    DRIVER.with(|d| {
        if let Some(driver) = &*d.borrow() {
            return Ok(driver.local.local_handle());
        }
        let local = LocalRuntime::new()?;
        let handle = local.local_handle();
        let driver = unsafe { install(env, local) }?;
        *d.borrow_mut() = Some(driver);
        Ok(handle)
    })
}

fn uv_error(what: &str, code: c_int) -> std::io::Error {
    std::io::Error::other(format!("rsws: {what} failed (libuv error {code})"))
}

/// Starts the handles on `env`'s loop and registers their cleanup.
unsafe fn install(env: sys::napi_env, local: LocalRuntime) -> std::io::Result<Driver> {
    let mut lp: *mut sys::uv_loop_s = ptr::null_mut();
    if sys::napi_get_uv_event_loop(env, &mut lp) != sys::Status::napi_ok || lp.is_null() {
        return Err(std::io::Error::other("rsws: no libuv loop for this thread"));
    }
    let lp = lp as *mut c_void;
    let poll = alloc(UV_POLL);
    let r = uv_poll_init(lp, poll, local.fd());
    if r != 0 {
        free(poll);
        return Err(uv_error("uv_poll_init", r));
    }
    #[cfg(target_os = "linux")]
    let sockets = {
        let sockets = alloc(UV_POLL);
        let r = uv_poll_init(lp, sockets, local.reactor_fd());
        if r != 0 {
            free(sockets);
            uv_close(poll, on_closed);
            return Err(uv_error("uv_poll_init", r));
        }
        sockets
    };
    let timer = alloc(UV_TIMER);
    let r = uv_timer_init(lp, timer);
    if r != 0 {
        free(timer);
        uv_close(poll, on_closed);
        #[cfg(target_os = "linux")]
        uv_close(sockets, on_closed);
        return Err(uv_error("uv_timer_init", r));
    }
    uv_poll_start(poll, UV_READABLE, on_readable);
    uv_unref(poll);
    #[cfg(target_os = "linux")]
    {
        uv_poll_start(sockets, UV_READABLE, on_readable);
        uv_unref(sockets);
    }
    uv_unref(timer);
    sys::napi_add_env_cleanup_hook(env, Some(cleanup), ptr::null_mut());
    // The timer starts with the first task (a listener), on the drive its spawn causes.
    Ok(Driver {
        env,
        local,
        poll,
        #[cfg(target_os = "linux")]
        sockets,
        timer,
        ticking: std::cell::Cell::new(false),
    })
}

/// Room for a libuv handle (uv_poll_t and uv_timer_t are 100-200 bytes).
type HandleBlock = [u64; 32];

/// A zeroed, 8-byte aligned block for a libuv handle of `kind`, freed by `on_closed`.
fn alloc(kind: c_int) -> *mut c_void {
    assert!(unsafe { uv_handle_size(kind) } <= std::mem::size_of::<HandleBlock>());
    Box::into_raw(Box::new([0u64; 32] as HandleBlock)) as *mut c_void
}

/// Frees a block from `alloc` whose handle was never initialized or is closed.
unsafe fn free(handle: *mut c_void) {
    drop(Box::from_raw(handle as *mut HandleBlock));
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    free(handle);
}

unsafe extern "C" fn on_readable(_handle: *mut c_void, _status: c_int, _events: c_int) {
    drive();
}

unsafe extern "C" fn on_tick(_handle: *mut c_void) {
    drive();
}

fn drive() {
    // Nothing may unwind into libuv; Tokio already catches panics of tasks.
    let _ = std::panic::catch_unwind(|| {
        DRIVER.with(|d| {
            let Ok(d) = d.try_borrow() else { return };
            let Some(driver) = &*d else { return };
            // Apps woken while driving are called right after, on this callback.
            super::wake::set_driving(driver.env);
            let done = driver.local.drive();
            super::wake::set_driving(ptr::null_mut());
            if !done {
                // Stopped with work left that the descriptor may not show: once more as
                // soon as the loop has run its other callbacks.
                unsafe { uv_timer_start(driver.timer, on_tick, 0, TICK_MS) };
                driver.ticking.set(true);
            } else if driver.local.is_idle() {
                // No listener, no socket: no wake-ups for an App that is not serving.
                if driver.ticking.replace(false) {
                    unsafe { uv_timer_stop(driver.timer) };
                }
            } else if !driver.ticking.replace(true) {
                unsafe { uv_timer_start(driver.timer, on_tick, TICK_MS, TICK_MS) };
            }
        });
        // Outside the borrow: JS may make another App, and with it ask for the driver.
        super::wake::call_pending();
    });
}

/// The environment ends (its thread exits, or the process): the handles are closed and
/// the runtime dropped, which ends every socket still on it.
unsafe extern "C" fn cleanup(_arg: *mut c_void) {
    let Some(driver) = DRIVER.with(|d| d.borrow_mut().take()) else {
        return;
    };
    uv_close(driver.poll, on_closed);
    #[cfg(target_os = "linux")]
    uv_close(driver.sockets, on_closed);
    uv_close(driver.timer, on_closed);
    drop(driver.local);
}
