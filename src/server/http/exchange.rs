//! One HTTP connection's shared state: its socket's outbound queue and the exchange in
//! progress, and the records in which JS answers requests (applied on the JS thread).
//!
//! Record layout (little endian), mirrored in `lib/http.js`:
//! `u32 slot | u8 op | u8 flags | u16 0 | u32 len | payload[len]`, the payload starting
//! with the `u32` serial of the request it answers; TRY_END (and END_WITHOUT_BODY with
//! [`FLAG_HAS_LENGTH`]) follow it with a `u64` size. Records for another serial than the
//! connection's current request are ignored: they answer a request that is gone.

use crate::protocol::http1::{
    write_continue, HttpDate, ResponseError, ResponseOptions, ResponseState, ResponseWriter,
};
use crate::server::app::AppCore;
use crate::server::conn::{ConnLink, ConnShared, DeliveryPolicy};
use crate::server::events::{kind, EventQueue};
use crate::server::stream::Stream;
use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Record kinds from JS.
pub mod op {
    /// `res.writeStatus(status)`: data = the status text.
    pub const STATUS: u8 = 1;
    /// `res.writeHeader(name, value)`: data = `u16 name length | name | value`.
    pub const HEADER: u8 = 2;
    /// `res.write(chunk)`.
    pub const WRITE: u8 = 3;
    /// `res.end(body, closeConnection)`: [`FLAG_CLOSE`](super::FLAG_CLOSE).
    pub const END: u8 = 4;
    /// `res.endWithoutBody(reportedContentLength?, closeConnection?)`.
    pub const END_WITHOUT_BODY: u8 = 5;
    /// `res.tryEnd(chunk, totalSize)`: `u64 totalSize`, then the chunk.
    pub const TRY_END: u8 = 6;
    /// After the handlers ran: whether `onData` was registered (flags bit 0). Until it
    /// arrives the body is not read.
    pub const BODY: u8 = 7;
    /// `res.pause()` / `res.resume()`: stop / restart reading the socket.
    pub const PAUSE: u8 = 8;
    pub const RESUME: u8 = 9;
    /// `write`/`tryEnd` reported backpressure: send HTTP_WRITABLE once the queue is empty.
    pub const WRITABLE: u8 = 10;
    /// `res.close()`: drop the connection now.
    pub const CLOSE: u8 = 11;
}

/// END / END_WITHOUT_BODY: `closeConnection`.
pub const FLAG_CLOSE: u8 = 1;
/// END_WITHOUT_BODY: a reported content length follows the serial.
pub const FLAG_HAS_LENGTH: u8 = 2;

/// What happens to the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The request has none.
    None,
    /// JS has not said yet whether a handler registered `onData`: nothing is read.
    Undecided,
    /// Streamed to JS as HTTP_DATA events.
    Wanted,
    /// Read and dropped (no `onData`, or the response already ended).
    Discard,
}

/// The request being answered on a connection.
pub struct Exchange {
    /// The request JS may answer; 0 when it may not (answered here, or gone).
    pub serial: u32,
    options: ResponseOptions,
    pub writer: ResponseWriter,
    pub body: Body,
    expect_continue: bool,
    continue_sent: bool,
    /// The connection closes after this response whatever the writer decided (an
    /// unread `Expect: 100-continue` body, or the App shutting down).
    force_close: bool,
    pub paused: bool,
    pub want_writable: bool,
    /// `res.close()` or `app.close()`: drop the connection now.
    pub closing: bool,
    /// `app.shutdown()`: close once no request is in progress.
    pub close_idle: bool,
}

impl Exchange {
    fn new() -> Self {
        let options = ResponseOptions::default();
        Exchange {
            serial: 0,
            options,
            writer: ResponseWriter::new(options),
            body: Body::None,
            expect_continue: false,
            continue_sent: false,
            force_close: false,
            paused: false,
            want_writable: false,
            closing: false,
            close_idle: false,
        }
    }

    /// Starts answering a new request.
    pub fn start(&mut self, serial: u32, options: ResponseOptions, has_body: bool, expect: bool) {
        self.serial = serial;
        self.options = options;
        self.writer = ResponseWriter::new(options);
        self.body = if has_body {
            Body::Undecided
        } else {
            Body::None
        };
        self.expect_continue = expect;
        self.continue_sent = false;
        self.force_close = false;
        self.paused = false;
        self.want_writable = false;
    }

    pub fn is_done(&self) -> bool {
        self.writer.is_done()
    }

    /// Whether the connection may carry another request after this (ended) response.
    pub fn keep_alive(&self) -> bool {
        self.writer.keep_alive() && !self.force_close
    }

    /// The default response to a request no route took.
    pub fn not_found(&mut self, app: &AppCore, out: &mut Vec<u8>, close: bool) {
        self.refresh_date();
        let _ = self.writer.write_status(out, b"404 Not Found");
        let _ = self
            .writer
            .write_header(out, b"Content-Type", b"text/plain");
        self.force_close |= close;
        self.before_body(app, out);
        let _ = self.writer.end(out, b"Not Found", false);
        if self.body != Body::None {
            self.body = Body::Discard;
        }
    }

    /// The head is not written yet: give it the current date.
    fn refresh_date(&mut self) {
        if self.writer.state() == ResponseState::StatusPending {
            self.options.date = Some(now_date());
            self.writer = ResponseWriter::new(self.options);
        }
    }

    /// Before the head is finished: decide whether the connection closes after it, and
    /// say so in the head.
    fn before_body(&mut self, app: &AppCore, out: &mut Vec<u8>) {
        if !matches!(
            self.writer.state(),
            ResponseState::StatusPending | ResponseState::Headers
        ) {
            return;
        }
        self.refresh_date();
        // A client told to wait for 100 Continue that never came may or may not send
        // its body: the connection's framing is unknown after this response.
        let unread_expect = self.expect_continue && !self.continue_sent;
        if unread_expect || app.is_refusing() {
            self.force_close = true;
        }
        if self.force_close && self.writer.keep_alive() {
            // The writer then also closes: no second Connection header.
            let _ = self.writer.write_header(out, b"Connection", b"close");
        }
    }

    /// Applies one record; Ok(true) when the task should look at the state again.
    fn apply(
        &mut self,
        app: &AppCore,
        io: &ConnShared,
        slot: u32,
        rec: &Record<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, ResponseError> {
        let close = rec.flags & FLAG_CLOSE != 0;
        let changed = match rec.op {
            op::STATUS => {
                self.refresh_date();
                self.writer.write_status(out, rec.data)?;
                false
            }
            op::HEADER => {
                self.refresh_date();
                let (name, value) =
                    split_header(rec.data).ok_or(ResponseError::InvalidHeaderName)?;
                self.writer.write_header(out, name, value)?;
                false
            }
            op::WRITE => {
                self.before_body(app, out);
                self.writer.write(out, rec.data)?;
                false
            }
            op::END => {
                self.before_body(app, out);
                self.writer.end(out, rec.data, close)?;
                true
            }
            op::END_WITHOUT_BODY => {
                self.before_body(app, out);
                let length = (rec.flags & FLAG_HAS_LENGTH != 0).then_some(rec.size);
                self.writer.end_without_body(out, length, close)?;
                true
            }
            op::TRY_END => {
                self.before_body(app, out);
                self.writer.try_end(out, rec.data, rec.size)?
            }
            op::BODY => {
                if self.body == Body::Undecided {
                    let wanted = rec.flags & 1 != 0 && !self.writer.is_done();
                    self.body = if wanted { Body::Wanted } else { Body::Discard };
                    if wanted
                        && self.expect_continue
                        && self.writer.state() == ResponseState::StatusPending
                    {
                        write_continue(out);
                        self.continue_sent = true;
                    }
                }
                true
            }
            op::PAUSE | op::RESUME => {
                self.paused = rec.op == op::PAUSE;
                true
            }
            op::WRITABLE => {
                if io.wants_write() {
                    self.want_writable = true;
                } else {
                    writable_event(&app.events, slot, self.serial);
                }
                false
            }
            op::CLOSE => {
                self.serial = 0;
                self.closing = true;
                io.close_outbound();
                true
            }
            _ => false,
        };
        if self.writer.is_done() && matches!(self.body, Body::Wanted | Body::Undecided) {
            // Nothing more reaches JS once the response ended.
            self.body = Body::Discard;
        }
        Ok(changed)
    }
}

pub fn writable_event(events: &EventQueue, slot: u32, serial: u32) {
    events.with_batch(|b| b.push(slot, kind::HTTP_WRITABLE, 0, 0, &serial.to_le_bytes()));
}

/// A connection serving HTTP: the socket with its outbound queue, and the exchange.
pub struct HttpConn {
    pub io: ConnShared,
    state: Mutex<Exchange>,
}

impl HttpConn {
    pub(super) fn new(stream: Stream, slot: u32, link: Arc<ConnLink>) -> Self {
        // The delivery policy only concerns pub/sub, which never reaches HTTP sockets.
        let policy = DeliveryPolicy::new(0, false, false);
        HttpConn {
            io: ConnShared::new(stream, link, slot, policy, None, None),
            state: Mutex::new(Exchange::new()),
        }
    }

    pub fn slot(&self) -> u32 {
        self.io.id()
    }

    pub fn lock(&self) -> MutexGuard<'_, Exchange> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn into_stream(self) -> Stream {
        self.io.stream
    }

    /// See [`HttpState::close_connections`](super::HttpState::close_connections).
    pub(super) fn close(&self, idle_only: bool) {
        let mut ex = self.lock();
        if idle_only {
            ex.close_idle = true;
        } else {
            ex.serial = 0;
            ex.closing = true;
            self.io.close_outbound();
        }
        drop(ex);
        self.io.notify.notify_one();
    }
}

struct Record<'a> {
    slot: u32,
    op: u8,
    flags: u8,
    serial: u32,
    /// TRY_END's total size, END_WITHOUT_BODY's reported length.
    size: u64,
    data: &'a [u8],
}

fn parse(buf: &[u8]) -> impl Iterator<Item = Record<'_>> {
    // A record too short for its fields ends the buffer, as a truncated one does.
    crate::server::record::records(buf).map_while(|r| {
        let (op, flags, payload) = (r.op, r.flags, r.payload);
        let serial = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
        let sized =
            op == op::TRY_END || (op == op::END_WITHOUT_BODY && flags & FLAG_HAS_LENGTH != 0);
        let (size, data) = if sized {
            let size = u64::from_le_bytes(payload.get(4..12)?.try_into().ok()?);
            (size, &payload[12..])
        } else {
            (0, &payload[4..])
        };
        Some(Record {
            slot: r.id,
            op,
            flags,
            serial,
            size,
            data,
        })
    })
}

fn split_header(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes(data.get(..2)?.try_into().ok()?) as usize;
    Some((data.get(2..2 + len)?, &data[2 + len..]))
}

/// Applies a packed buffer of records from JS. Consecutive records for one connection are
/// applied under one lock and written with one call.
pub fn dispatch(app: &AppCore, buf: &[u8]) {
    let slots = app.http.lock_slots();
    let mut out = Vec::new();
    let mut records = parse(buf).peekable();
    while let Some(first) = records.next() {
        let slot = first.slot;
        let run = std::iter::once(first)
            .chain(std::iter::from_fn(|| records.next_if(|r| r.slot == slot)));
        match slots.get(slot) {
            Some(conn) => apply_run(app, conn, run, &mut out),
            None => run.for_each(drop),
        }
    }
}

/// One record passed without packing (a large body).
pub fn dispatch_one(
    app: &AppCore,
    slot: u32,
    op: u8,
    flags: u8,
    serial: u32,
    size: u64,
    data: &[u8],
) {
    let slots = app.http.lock_slots();
    if let Some(conn) = slots.get(slot) {
        let rec = Record {
            slot,
            op,
            flags,
            serial,
            size,
            data,
        };
        apply_run(app, conn, std::iter::once(rec), &mut Vec::new());
    }
}

fn apply_run<'a>(
    app: &AppCore,
    conn: &HttpConn,
    run: impl Iterator<Item = Record<'a>>,
    out: &mut Vec<u8>,
) {
    let mut ex = conn.lock();
    let mut changed = false;
    for rec in run {
        if rec.serial != ex.serial || ex.serial == 0 {
            continue;
        }
        match ex.apply(app, &conn.io, conn.slot(), &rec, out) {
            Ok(c) => changed |= c,
            Err(_) => {
                // lib/http.js checks every call before sending it, so this is a bug:
                // fail the connection rather than send a broken message.
                out.clear();
                ex.serial = 0;
                ex.closing = true;
                conn.io.close_outbound();
                changed = true;
            }
        }
    }
    if !out.is_empty() {
        // Under the state lock: the task writes only after it saw the state this left,
        // so bytes go out in order.
        conn.io.write(out, false);
        out.clear();
    }
    drop(ex);
    if changed {
        conn.io.notify.notify_one();
    }
}

/// The `Date` value for now, formatted once per second per thread.
pub fn now_date() -> HttpDate {
    thread_local! {
        static CACHE: Cell<(u64, Option<HttpDate>)> = const { Cell::new((0, None)) };
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|cache| match cache.get() {
        (at, Some(date)) if at == secs => date,
        _ => {
            let date = HttpDate::from_unix(secs);
            cache.set((secs, Some(date)));
            date
        }
    })
}
