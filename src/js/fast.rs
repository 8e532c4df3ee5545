//! The calls JS makes for every batch or message, as plain N-API functions.
//!
//! napi-rs's glue for a class method costs about 0.45 µs per call on this machine (a
//! process-wide mutex taken twice for its borrow bookkeeping, a type-tag check, an
//! allocation per call), against about 0.05 µs for the N-API call itself; the event
//! path makes one to three such calls per wake and per large send. These functions get
//! their App's state as the function's own data pointer (an `Rc`, released by the
//! function's finalizer), check their arguments themselves, and turn a panic into a JS
//! `Error` as `#[napi(catch_unwind)]` does.

use super::JsSide;
use crate::pubsub::MAX_TOPIC_LEN;
use crate::server::conn::ConnShared;
use crate::server::{outbox, publish};
use napi::sys;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

type Value = sys::napi_value;

/// Why a call failed.
enum Fail {
    /// An argument of the wrong type: a `TypeError`.
    Arg(&'static CStr),
    /// N-API refused (out of memory), or the call is not valid now (a closed socket,
    /// a topic too long): an `Error`.
    Napi(&'static CStr),
}

type Body<const N: usize> = fn(sys::napi_env, &[Value; N], &JsSide) -> Result<Value, Fail>;

/// Defines `name` on `target` as a function running `body` with `state`.
///
/// # Safety
/// `env` and `target` must be valid for the current call from JS.
unsafe fn define(
    env: sys::napi_env,
    target: Value,
    name: &CStr,
    cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Value,
    state: &Rc<JsSide>,
) -> bool {
    let data = Rc::into_raw(state.clone()) as *mut c_void;
    let mut f = ptr::null_mut();
    unsafe {
        let ok = sys::napi_create_function(env, name.as_ptr(), -1, Some(cb), data, &mut f)
            == sys::Status::napi_ok
            && sys::napi_add_finalizer(
                env,
                f,
                data,
                Some(release),
                ptr::null_mut(),
                ptr::null_mut(),
            ) == sys::Status::napi_ok;
        if !ok {
            drop(Rc::from_raw(data as *const JsSide));
            return false;
        }
        sys::napi_set_named_property(env, target, name.as_ptr(), f) == sys::Status::napi_ok
    }
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the `Rc` leaked by `define` for this function, finalized once.
    drop(unsafe { Rc::from_raw(data as *const JsSide) });
}

/// Puts the fast functions on `target`: `takeInto`, `takeLarge`, `largeMessage`,
/// `releaseLarge`, `flush`, `sendDirect`, `publish`, `publishText`, `subscribe`,
/// `unsubscribe`, `isSubscribed`, `leaveAll`, `httpFlush`.
///
/// # Safety
/// `env` and `target` must be valid for the current call from JS.
pub unsafe fn install(env: sys::napi_env, target: Value, state: &Rc<JsSide>) -> bool {
    unsafe {
        define(env, target, c"takeInto", take_into, state)
            && define(env, target, c"takeLarge", take_large, state)
            && define(env, target, c"largeMessage", large_message, state)
            && define(env, target, c"releaseLarge", release_large, state)
            && define(env, target, c"flush", flush, state)
            && define(env, target, c"sendDirect", send_direct, state)
            && define(env, target, c"publish", publish, state)
            && define(env, target, c"publishText", publish_text, state)
            && define(env, target, c"subscribe", subscribe, state)
            && define(env, target, c"unsubscribe", unsubscribe, state)
            && define(env, target, c"isSubscribed", is_subscribed, state)
            && define(env, target, c"leaveAll", leave_all, state)
            && define(env, target, c"httpFlush", http_flush, state)
    }
}

/// Runs `body` with the call's first `N` arguments (missing ones are `undefined`).
unsafe fn call<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: Body<N>,
) -> Value {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    if status != sys::Status::napi_ok || data.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `data` is this function's `Rc<JsSide>`, alive until its finalizer runs.
    let state = unsafe { &*(data as *const JsSide) };
    match catch_unwind(AssertUnwindSafe(|| body(env, &argv, state))) {
        Ok(Ok(v)) => v,
        Ok(Err(Fail::Arg(msg))) => {
            unsafe { sys::napi_throw_type_error(env, ptr::null(), msg.as_ptr()) };
            ptr::null_mut()
        }
        Ok(Err(Fail::Napi(msg))) => {
            unsafe { sys::napi_throw_error(env, ptr::null(), msg.as_ptr()) };
            ptr::null_mut()
        }
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            let msg = std::ffi::CString::new(format!("rsws internal error: {text}"))
                .unwrap_or_else(|_| c"rsws internal error".to_owned());
            unsafe { sys::napi_throw_error(env, ptr::null(), msg.as_ptr()) };
            ptr::null_mut()
        }
    }
}

/// The bytes of a `Uint8Array` (or `Buffer`).
///
/// # Safety
/// Valid until JS runs again (the caller uses them within the call).
unsafe fn bytes<'a>(env: sys::napi_env, v: Value) -> Result<&'a mut [u8], Fail> {
    let mut kind = 0;
    let mut len = 0;
    let mut data = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            v,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
        return Err(Fail::Arg(c"expected a Uint8Array"));
    }
    if len == 0 || data.is_null() {
        return Ok(&mut []);
    }
    // SAFETY: N-API's view of the array's bytes; nothing else runs during the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) })
}

fn uint(env: sys::napi_env, v: Value) -> Result<u32, Fail> {
    let mut n = 0;
    match unsafe { sys::napi_get_value_uint32(env, v, &mut n) } {
        sys::Status::napi_ok => Ok(n),
        _ => Err(Fail::Arg(c"expected a number")),
    }
}

fn int(env: sys::napi_env, v: Value) -> Result<i32, Fail> {
    let mut n = 0;
    match unsafe { sys::napi_get_value_int32(env, v, &mut n) } {
        sys::Status::napi_ok => Ok(n),
        _ => Err(Fail::Arg(c"expected a number")),
    }
}

fn boolean(env: sys::napi_env, v: Value) -> Result<bool, Fail> {
    let mut b = false;
    match unsafe { sys::napi_get_value_bool(env, v, &mut b) } {
        sys::Status::napi_ok => Ok(b),
        _ => Err(Fail::Arg(c"expected a boolean")),
    }
}

/// A string argument as UTF-8 (lone surrogates become U+FFFD, as napi-rs's `String`).
fn string(env: sys::napi_env, v: Value) -> Result<String, Fail> {
    let bad = || Fail::Arg(c"expected a string");
    let mut len = 0;
    if unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len) }
        != sys::Status::napi_ok
    {
        return Err(bad());
    }
    let mut buf = vec![0u8; len + 1];
    let mut written = 0;
    if unsafe {
        sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), len + 1, &mut written)
    } != sys::Status::napi_ok
    {
        return Err(bad());
    }
    buf.truncate(written);
    String::from_utf8(buf).map_err(|_| bad())
}

fn is_undefined(env: sys::napi_env, v: Value) -> bool {
    let mut kind = 0;
    let status = unsafe { sys::napi_typeof(env, v, &mut kind) };
    status == sys::Status::napi_ok && kind == sys::ValueType::napi_undefined
}

fn number(env: sys::napi_env, n: f64) -> Value {
    let mut v = ptr::null_mut();
    unsafe { sys::napi_create_double(env, n, &mut v) };
    v
}

fn undefined(env: sys::napi_env) -> Value {
    let mut v = ptr::null_mut();
    unsafe { sys::napi_get_undefined(env, &mut v) };
    v
}

unsafe extern "C" fn take_into(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<1>(env, info, |env, args, js| {
            let inbox = bytes(env, args[0])?;
            Ok(number(env, js.take_into(inbox) as f64))
        })
    }
}

/// `takeLarge()`: a handle (0 or more) on the payloads of the MESSAGE_LARGE records of
/// the last batch taken, or -1 when it has none. JS takes each payload with
/// `largeMessage` right before its handler runs, and gives the handle back with
/// `releaseLarge` once the batch is dispatched. A handle, not the payloads themselves: a
/// handler may take the next batch while this one is being dispatched.
unsafe extern "C" fn take_large(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<0>(env, info, |env, _, js| {
            Ok(number(env, js.hold_large() as f64))
        })
    }
}

/// `largeMessage(handle, index, spare?)`: payload `index` of a `takeLarge` handle, in an
/// ArrayBuffer of its own; the payload's memory is freed at once.
///
/// Made one at a time, just before the handler gets it, rather than the whole batch's
/// at once: the handler's `send` then reads bytes still in the cache. With hundreds of
/// 16 KiB messages in a batch, every one of them was out of the L2 cache again by the
/// time its send copied it (benchmark/RESULTS.md, "Large messages made one at a time").
///
/// Copied into ArrayBuffers of V8's own rather than lent as external ones. V8 frees its
/// own in the next scavenge; external ones were freed only by full collections (measured
/// on Node 20 and 22: echoing 200 KiB messages ran a mark-compact every 60-80 ms and no
/// scavenge, with 1.6x the peak RSS). The copy costs less than those collections
/// (benchmark/RESULTS.md, "Large messages").
///
/// `spare`: an ArrayBuffer JS kept from a detached message (`detachMessages`), which
/// nothing else references. A payload of its exact length is copied into it instead of
/// into new memory: warm, and no allocation.
unsafe extern "C" fn large_message(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<3>(env, info, |env, args, js| {
            let (handle, index) = (uint(env, args[0])?, uint(env, args[1])?);
            let spare = match is_undefined(env, args[2]) {
                true => None,
                false => Some(spare_buffer(env, args[2])?),
            };
            let payload = js
                .large_payload(handle, index)
                .ok_or(Fail::Napi(c"no such large message"))?;
            match spare {
                Some(spare) if spare.len == payload.len() => {
                    // SAFETY: a spare's bytes; only JS's pool held it, and JS waits for
                    // this call.
                    std::slice::from_raw_parts_mut(spare.data, spare.len).copy_from_slice(&payload);
                    Ok(spare.buffer)
                }
                _ => copy_uninit(env, &payload),
            }
        })
    }
}

/// `releaseLarge(handle)`: the batch is dispatched; payloads nobody took are freed.
unsafe extern "C" fn release_large(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<1>(env, info, |env, args, js| {
            js.release_large(uint(env, args[0])?);
            Ok(undefined(env))
        })
    }
}

/// An ArrayBuffer JS lends `largeMessage` to fill, and its bytes.
struct Spare {
    buffer: Value,
    data: *mut u8,
    len: usize,
}

unsafe fn spare_buffer(env: sys::napi_env, buffer: Value) -> Result<Spare, Fail> {
    let mut data = ptr::null_mut();
    let mut len = 0;
    let ok = unsafe { sys::napi_get_arraybuffer_info(env, buffer, &mut data, &mut len) }
        == sys::Status::napi_ok;
    match ok && (len == 0 || !data.is_null()) {
        true => Ok(Spare {
            buffer,
            data: data as *mut u8,
            len,
        }),
        false => Err(Fail::Arg(c"expected an ArrayBuffer")),
    }
}

/// `bytes` in a new ArrayBuffer of V8's own, written once. `napi_create_arraybuffer`
/// zero-fills its memory before the copy would overwrite it: 5% of the server's samples
/// echoing 16 KiB messages. `napi_create_buffer_copy` is Node's `Buffer::Copy`, which
/// allocates without the fill and never from Buffer's pool, so its ArrayBuffer holds
/// exactly `bytes`.
fn copy_uninit(env: sys::napi_env, bytes: &[u8]) -> Result<Value, Fail> {
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut array_buffer = ptr::null_mut();
    let mut offset = 0;
    let mut owned = ptr::null_mut();
    let mut len = 0;
    // SAFETY: `bytes` is valid for its length; Node copies it before returning.
    let ok = unsafe {
        sys::napi_create_buffer_copy(
            env,
            bytes.len(),
            bytes.as_ptr().cast(),
            &mut data,
            &mut buffer,
        ) == sys::Status::napi_ok
            && sys::napi_get_typedarray_info(
                env,
                buffer,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut array_buffer,
                &mut offset,
            ) == sys::Status::napi_ok
            && sys::napi_get_arraybuffer_info(env, array_buffer, &mut owned, &mut len)
                == sys::Status::napi_ok
    };
    match ok && offset == 0 && len == bytes.len() {
        true => Ok(array_buffer),
        false => Err(Fail::Napi(c"failed to copy a message")),
    }
}

unsafe extern "C" fn flush(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<1>(env, info, |env, args, js| {
            outbox::dispatch(&js.core, bytes(env, args[0])?);
            Ok(undefined(env))
        })
    }
}

unsafe extern "C" fn send_direct(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<4>(env, info, |env, args, js| {
            let id = uint(env, args[0])?;
            let opcode = uint(env, args[1])? as u8;
            let flags = uint(env, args[2])? as u8;
            outbox::send_direct(&js.core, id, opcode, flags, bytes(env, args[3])?);
            Ok(undefined(env))
        })
    }
}

/// `publish` and `publishText` once their message is read: topic, sender, binary,
/// compress, and (optional) whether the caller wants the stats of this very publish
/// (`publishWithStats`), which queues it at once instead of recording it.
fn publish_with(
    env: sys::napi_env,
    args: &[Value; 6],
    js: &JsSide,
    payload: &[u8],
) -> Result<Value, Fail> {
    let topic = string(env, args[0])?;
    let (sender, binary, compress) = (
        int(env, args[1])?,
        boolean(env, args[2])?,
        boolean(env, args[3])?,
    );
    let stats = !is_undefined(env, args[5]) && boolean(env, args[5])?;
    let reached = js.publish(&topic, sender, binary, compress, stats, payload);
    Ok(number(env, reached as f64))
}

unsafe extern "C" fn publish(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<6>(env, info, |env, args, js| {
            publish_with(env, args, js, bytes(env, args[4])?)
        })
    }
}

unsafe extern "C" fn publish_text(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<6>(env, info, |env, args, js| {
            publish_with(env, args, js, string(env, args[4])?.as_bytes())
        })
    }
}

/// The open connection whose id is `v`.
fn conn(env: sys::napi_env, v: Value, js: &JsSide) -> Result<Arc<ConnShared>, Fail> {
    js.conn(uint(env, v)?).ok_or(Fail::Napi(super::CLOSED))
}

/// `subscribe(id, topic)`: the topic's new subscriber count, or -1 if already subscribed.
/// Called once per topic by sockets that subscribe on open: about half its cost was
/// napi-rs's method glue.
unsafe extern "C" fn subscribe(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe { call::<2>(env, info, |env, args, js| subscription(env, args, js, true)) }
}

/// `unsubscribe(id, topic)`: the topic's new subscriber count, or -1 if not subscribed.
unsafe extern "C" fn unsubscribe(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<2>(env, info, |env, args, js| {
            subscription(env, args, js, false)
        })
    }
}

/// Joins (`join`) or leaves a topic: its new subscriber count, or -1 if nothing changed.
fn subscription(
    env: sys::napi_env,
    args: &[Value; 2],
    js: &JsSide,
    join: bool,
) -> Result<Value, Fail> {
    let topic = string(env, args[1])?;
    const _: () = assert!(MAX_TOPIC_LEN == 65536, "the message names the limit");
    if join && topic.len() > MAX_TOPIC_LEN {
        return Err(Fail::Napi(c"topic is longer than 65536 bytes"));
    }
    let conn = conn(env, args[0], js)?;
    let change = match join {
        true => publish::subscribe(&js.core, &conn, &topic),
        false => publish::unsubscribe(&js.core, &conn, &topic),
    };
    Ok(number(env, change.map_or(-1.0, |c| c.new_count as f64)))
}

/// `isSubscribed(id, topic)`.
unsafe extern "C" fn is_subscribed(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<2>(env, info, |env, args, js| {
            let topic = string(env, args[1])?;
            let conn = conn(env, args[0], js)?;
            let mut v = ptr::null_mut();
            sys::napi_get_boolean(env, conn.has_topic(&topic), &mut v);
            Ok(v)
        })
    }
}

/// `leaveAll(id)`: leaves every topic (a closing socket), as `[topic, newCount, ...]`;
/// empty if the socket is gone. Once per close of a subscribed socket.
unsafe extern "C" fn leave_all(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<1>(env, info, |env, args, js| {
            let conn = js.conn(uint(env, args[0])?);
            let left = conn.map_or_else(Vec::new, |c| publish::leave_all(&js.core, &c));
            let mut out = ptr::null_mut();
            if sys::napi_create_array_with_length(env, 2 * left.len(), &mut out)
                != sys::Status::napi_ok
            {
                return Err(Fail::Napi(c"failed to create an array"));
            }
            for (i, (topic, change)) in left.iter().enumerate() {
                let mut name = ptr::null_mut();
                if sys::napi_create_string_utf8(
                    env,
                    topic.as_ptr().cast(),
                    topic.len() as isize,
                    &mut name,
                ) != sys::Status::napi_ok
                {
                    return Err(Fail::Napi(c"failed to create a string"));
                }
                sys::napi_set_element(env, out, 2 * i as u32, name);
                sys::napi_set_element(
                    env,
                    out,
                    2 * i as u32 + 1,
                    number(env, change.new_count as f64),
                );
            }
            Ok(out)
        })
    }
}

/// `httpFlush(records)`: applies a packed buffer of HTTP response records (see
/// `server::http`'s exchange.rs). Once per JS turn that answered HTTP requests.
unsafe extern "C" fn http_flush(env: sys::napi_env, info: sys::napi_callback_info) -> Value {
    unsafe {
        call::<1>(env, info, |env, args, js| {
            crate::server::http::dispatch(&js.core, bytes(env, args[0])?);
            Ok(undefined(env))
        })
    }
}
