//! Wakes the JS thread through a raw N-API threadsafe function: one call per batch, no
//! payload (JS takes the batch itself). Raw so that ref/unref and the teardown race are
//! under our control: after Node finalizes the function, wakes become no-ops instead of
//! touching freed memory.

use crate::server::events::Waker;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

struct Handle(sys::napi_threadsafe_function);
// SAFETY: N-API allows napi_call_threadsafe_function from any thread; the handle is only
// used under the mutex, which finalize clears before the function is freed.
unsafe impl Send for Handle {}

#[derive(Clone)]
pub struct JsWaker {
    handle: Arc<Mutex<Option<Handle>>>,
    /// `ioThreads: 0`: wakes during a drive of this thread's runtime call JS right after
    /// the drive instead of through the threadsafe function.
    direct: Option<Arc<Direct>>,
}

/// What a direct call of the wake function needs: a weak reference to it (it closes over
/// the JS App, which must stay collectable) and an async context for `napi_make_callback`
/// (which runs the microtasks, such as the outbox flush, after it).
struct Direct {
    env: sys::napi_env,
    func: sys::napi_ref,
    context: sys::napi_async_context,
    /// Queued in `PENDING` for the end of this drive.
    pending: AtomicBool,
    handle: Arc<Mutex<Option<Handle>>>,
}
// SAFETY: the napi handles are only used on the JS thread of `env` (`wake` queues a
// direct call only while that thread drives, `call_pending` runs there); the struct is
// shared with other threads only as part of the waker, whose other threads use the
// threadsafe function.
unsafe impl Send for Direct {}
unsafe impl Sync for Direct {}

thread_local! {
    /// The env whose runtime this thread is driving now (null when not driving).
    static DRIVING: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
    /// Wakes queued during the current drive.
    static PENDING: RefCell<Vec<Arc<Direct>>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as driving `env`'s runtime (or not, with null).
pub fn set_driving(env: sys::napi_env) {
    DRIVING.with(|d| d.set(env));
}

/// Calls the wake function of every App woken during the drive that just ended, once
/// each, as the threadsafe function would have (an exception is reported as uncaught).
pub fn call_pending() {
    loop {
        let Some(d) = PENDING.with(|p| p.borrow_mut().pop()) else {
            return;
        };
        d.pending.store(false, Ordering::Release);
        if d.handle.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
            continue; // the App is gone
        }
        // SAFETY: on the JS thread of `d.env`, outside any JS call (a libuv callback).
        unsafe { d.call() };
    }
}

impl Direct {
    /// None if N-API refuses (the threadsafe function then serves every wake).
    unsafe fn new(
        env: sys::napi_env,
        func: sys::napi_value,
        name: sys::napi_value,
        handle: Arc<Mutex<Option<Handle>>>,
    ) -> Option<Arc<Direct>> {
        let mut func_ref = ptr::null_mut();
        let mut resource = ptr::null_mut();
        let mut context = ptr::null_mut();
        unsafe {
            // Weak (count 0): the function closes over the App.
            if sys::napi_create_reference(env, func, 0, &mut func_ref) != sys::Status::napi_ok {
                return None;
            }
            if sys::napi_create_object(env, &mut resource) != sys::Status::napi_ok
                || sys::napi_async_init(env, resource, name, &mut context) != sys::Status::napi_ok
            {
                sys::napi_delete_reference(env, func_ref);
                return None;
            }
        }
        Some(Arc::new(Direct {
            env,
            func: func_ref,
            context,
            pending: AtomicBool::new(false),
            handle,
        }))
    }

    unsafe fn call(&self) {
        let env = self.env;
        let mut scope = ptr::null_mut();
        if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
            return;
        }
        let mut func = ptr::null_mut();
        let mut recv = ptr::null_mut();
        let mut result = ptr::null_mut();
        unsafe {
            sys::napi_get_reference_value(env, self.func, &mut func);
            if !func.is_null() {
                sys::napi_get_global(env, &mut recv);
                let status = sys::napi_make_callback(
                    env,
                    self.context,
                    recv,
                    func,
                    0,
                    ptr::null(),
                    &mut result,
                );
                if status == sys::Status::napi_pending_exception {
                    let mut err = ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &mut err);
                    if !err.is_null() {
                        sys::napi_fatal_exception(env, err);
                    }
                }
            }
            sys::napi_close_handle_scope(env, scope);
        }
    }
}

unsafe extern "C" fn call_js(
    env: sys::napi_env,
    js_cb: sys::napi_value,
    _context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() || js_cb.is_null() {
        return;
    }
    let mut undefined = ptr::null_mut();
    let mut result = ptr::null_mut();
    unsafe {
        sys::napi_get_undefined(env, &mut undefined);
        // An exception thrown here is reported by Node as uncaught, like any callback.
        sys::napi_call_function(env, undefined, js_cb, 0, ptr::null(), &mut result);
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Arc leaked in `JsWaker::new`, reclaimed exactly once here.
    let handle = unsafe { Arc::from_raw(data as *const Mutex<Option<Handle>>) };
    *handle.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

impl JsWaker {
    /// # Safety
    /// `env` and `func` must be valid for the current call from JS.
    /// `direct`: the App runs on this thread's runtime (`ioThreads: 0`).
    pub unsafe fn new(
        env: sys::napi_env,
        func: sys::napi_value,
        direct: bool,
    ) -> napi::Result<JsWaker> {
        let handle = Arc::new(Mutex::new(None));
        let finalize_data = Arc::into_raw(handle.clone()) as *mut c_void;
        let mut name = ptr::null_mut();
        let mut tsfn = ptr::null_mut();
        let status = unsafe {
            sys::napi_create_string_utf8(env, c"rsws".as_ptr(), 4, &mut name);
            sys::napi_create_threadsafe_function(
                env,
                func,
                ptr::null_mut(),
                name,
                0,
                1,
                finalize_data,
                Some(finalize),
                ptr::null_mut(),
                Some(call_js),
                &mut tsfn,
            )
        };
        if status != sys::Status::napi_ok {
            drop(unsafe { Arc::from_raw(finalize_data as *const Mutex<Option<Handle>>) });
            return Err(napi::Error::from_reason(
                "failed to create the rsws wake function",
            ));
        }
        *handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(Handle(tsfn));
        let direct = if direct {
            unsafe { Direct::new(env, func, name, handle.clone()) }
        } else {
            None
        };
        let waker = JsWaker { handle, direct };
        // Not referenced until something listens or is open: an idle App must not keep
        // the process alive.
        waker.set_ref(env, false);
        Ok(waker)
    }

    pub fn set_ref(&self, env: sys::napi_env, referenced: bool) {
        if let Some(Handle(tsfn)) = &*self.handle.lock().unwrap_or_else(|e| e.into_inner()) {
            unsafe {
                if referenced {
                    sys::napi_ref_threadsafe_function(env, *tsfn);
                } else {
                    sys::napi_unref_threadsafe_function(env, *tsfn);
                }
            }
        }
    }
}

impl JsWaker {
    /// Gives the threadsafe function back to Node (its owner, the JS App, is gone): later
    /// wakes are no-ops, and Node frees the function and its reference to the JS
    /// callback, so the App it closes over can be collected too.
    pub fn release(&self) {
        if let Some(d) = &self.direct {
            // SAFETY: called once, on the JS thread (the App's finalizer).
            unsafe {
                sys::napi_async_destroy(d.env, d.context);
                sys::napi_delete_reference(d.env, d.func);
            }
        }
        if let Some(Handle(tsfn)) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SAFETY: the handle was live (finalize clears it first, under this lock),
            // and it is released exactly once since it was taken out.
            unsafe {
                sys::napi_release_threadsafe_function(
                    tsfn,
                    sys::ThreadsafeFunctionReleaseMode::release,
                );
            }
        }
    }
}

impl Waker for JsWaker {
    fn wake(&self) {
        if let Some(d) = &self.direct {
            if DRIVING.with(Cell::get) == d.env {
                if !d.pending.swap(true, Ordering::AcqRel) {
                    PENDING.with(|p| p.borrow_mut().push(d.clone()));
                }
                return;
            }
        }
        if let Some(Handle(tsfn)) = &*self.handle.lock().unwrap_or_else(|e| e.into_inner()) {
            unsafe {
                sys::napi_call_threadsafe_function(
                    *tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }
}
