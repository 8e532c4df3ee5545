//! Wakes the JS thread through a raw N-API threadsafe function: one call per batch, no
//! payload (JS takes the batch itself). Raw so that ref/unref and the teardown race are
//! under our control: after Node finalizes the function, wakes become no-ops instead of
//! touching freed memory.

use crate::server::events::Waker;
use napi::sys;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex};

struct Handle(sys::napi_threadsafe_function);
// SAFETY: N-API allows napi_call_threadsafe_function from any thread; the handle is only
// used under the mutex, which finalize clears before the function is freed.
unsafe impl Send for Handle {}

#[derive(Clone)]
pub struct JsWaker {
    handle: Arc<Mutex<Option<Handle>>>,
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
    pub unsafe fn new(env: sys::napi_env, func: sys::napi_value) -> napi::Result<JsWaker> {
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
        let waker = JsWaker { handle };
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
