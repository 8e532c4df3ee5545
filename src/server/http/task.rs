//! The HTTP phase of a connection task: reads requests, serves them one at a time, and
//! hands the socket back for a WebSocket upgrade.

use super::exchange::{now_date, writable_event, Body, HttpConn};
use super::request;
use super::{KEEP_ALIVE_TIMEOUT, READ_AHEAD, STALL_TIMEOUT};
use crate::protocol::handshake::{write_status_response, HandshakeError, UpgradeRequest};
use crate::protocol::http1::{
    BodyDecoder, HttpError, RequestHead, RequestParser, ResponseOptions, ResponseState,
};
use crate::server::app::AppCore;
use crate::server::connection::{linger_close, HANDSHAKE_TIMEOUT};
use crate::server::events::kind;
use crate::server::stream::Stream;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

const SCRATCH_LEN: usize = 64 * 1024;
/// How long a connection closing after its response may take to flush it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(4);

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_LEN]);
}

/// A request for the WebSocket path: the socket, and the checked upgrade request with the
/// bytes that followed it, or the handshake error to answer with.
pub type Handoff = (Stream, Result<(UpgradeRequest, Vec<u8>), HandshakeError>);

/// Serves HTTP requests until one is for the WebSocket path; None when the connection
/// ended here. Boxed: a keep-alive connection waits here, and the connection task must
/// stay small for WebSockets.
pub async fn serve(app: &AppCore, stream: Stream, peer: SocketAddr) -> Option<Handoff> {
    Box::pin(Task::new(app, stream, peer).run()).await
}

enum Io {
    /// No HTTP request was served yet: the socket is the task's alone.
    Alone(Stream),
    /// Registered under a slot, shared with the JS thread.
    Shared(Arc<HttpConn>),
    Gone,
}

pub(super) struct Task<'a> {
    app: &'a AppCore,
    peer: SocketAddr,
    io: Io,
    /// Bytes read and not used yet: a partial head, or what follows the current head.
    buf: Vec<u8>,
    parser: RequestParser,
    /// The peer ended its side.
    eof: bool,
}

/// How an exchange left the connection.
enum Next {
    /// Ready for the next request.
    KeepAlive,
    /// Close cleanly (the response said so, or it was refused).
    Close,
    /// Drop now: the client left, stalled, or `res.close()` / `app.close()`.
    Drop,
}

/// What one read did.
enum Read {
    Data { events_full: bool },
    Idle,
    Gone,
    Invalid(HttpError),
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        if let Io::Shared(conn) = &self.io {
            self.app.http.release(conn.slot());
        }
    }
}

impl<'a> Task<'a> {
    pub(super) fn new(app: &'a AppCore, stream: Stream, peer: SocketAddr) -> Self {
        Task {
            app,
            peer,
            io: Io::Alone(stream),
            buf: Vec::new(),
            parser: RequestParser::new(),
            eof: false,
        }
    }

    fn stream(&self) -> Option<&Stream> {
        stream_of(&self.io)
    }

    fn conn(&self) -> Option<Arc<HttpConn>> {
        match &self.io {
            Io::Shared(c) => Some(c.clone()),
            _ => None,
        }
    }

    pub(super) async fn run(mut self) -> Option<Handoff> {
        let mut timeout = HANDSHAKE_TIMEOUT;
        loop {
            let head = match self.read_head(timeout).await {
                Ok(head) => head,
                Err(Some(e)) => {
                    self.send(&e.response_bytes()).await;
                    Box::pin(self.close_gracefully()).await;
                    return None;
                }
                // The peer left, or sent no (complete) request in time: closed silently,
                // as uWS does.
                Err(None) => return None,
            };
            timeout = KEEP_ALIVE_TIMEOUT;
            let wants_ws = request::asks_for_websocket(&head);
            let ws_route = self.app.route_for(head.url()).is_some();
            if ws_route && wants_ws {
                return self.hand_off(&head);
            }
            let routes = self.app.http.candidates(head.method(), head.url());
            if ws_route && routes.is_empty() {
                // A `.ws()` path without an HTTP route: refused as a bad handshake.
                return self.hand_off(&head);
            }
            if self.app.is_refusing() {
                let mut out = Vec::new();
                let headers = [("Content-Type".to_string(), "text/plain".to_string())];
                write_status_response(
                    &mut out,
                    "503 Service Unavailable",
                    &headers,
                    b"Server closing",
                );
                self.send(&out).await;
                Box::pin(self.close_gracefully()).await;
                return None;
            }
            // Boxed: an idle keep-alive connection then holds only the head-reading state.
            match Box::pin(self.exchange(head, routes, wants_ws)).await {
                Next::KeepAlive if !self.app.is_refusing() => {}
                Next::KeepAlive | Next::Close => {
                    Box::pin(self.close_gracefully()).await;
                    return None;
                }
                Next::Drop => return None,
            }
        }
    }

    /// Reads until a complete head; the bytes after it stay in `buf`. Err(None) when the
    /// peer left, the deadline passed or the App closes the connection.
    async fn read_head(&mut self, timeout: Duration) -> Result<RequestHead, Option<HttpError>> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.buf.is_empty() {
                if let Some((head, used)) = self.parser.parse_head(&self.buf)? {
                    self.buf.drain(..used);
                    return Ok(head);
                }
            } else if self.buf.capacity() > 0 {
                // Waiting idle: hold no buffer.
                self.buf = Vec::new();
            }
            if self.eof {
                return Err(None);
            }
            let conn = self.conn();
            let stream = stream_of(&self.io).ok_or(None)?;
            tokio::select! {
                biased;
                _ = notified(conn.as_deref()) => {
                    if let Some(conn) = &conn {
                        let ex = conn.lock();
                        if ex.closing || (ex.close_idle && self.buf.is_empty()) {
                            return Err(None);
                        }
                    }
                    continue;
                }
                r = stream.readable() => r.map_err(|_| None)?,
                _ = sleep_until(deadline) => return Err(None),
            }
            let buf = &mut self.buf;
            let parser = &mut self.parser;
            let step = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let n = match stream.try_read(&mut scratch) {
                    Ok(0) => return Err(None),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                    Err(_) => return Err(None),
                };
                if !buf.is_empty() {
                    buf.extend_from_slice(&scratch[..n]);
                    return Ok(None);
                }
                // Usually a whole head arrives in one read: parse it where it was read
                // and keep only what follows it.
                match parser.parse_head(&scratch[..n])? {
                    Some((head, used)) => {
                        buf.extend_from_slice(&scratch[used..n]);
                        Ok(Some(head))
                    }
                    None => {
                        buf.extend_from_slice(&scratch[..n]);
                        Ok(None)
                    }
                }
            })?;
            if let Some(head) = step {
                return Ok(head);
            }
        }
    }

    /// Gives the socket to the WebSocket path.
    fn hand_off(&mut self, head: &RequestHead) -> Option<Handoff> {
        let request =
            request::upgrade_request(head).map(|req| (req, std::mem::take(&mut self.buf)));
        let stream = match std::mem::replace(&mut self.io, Io::Gone) {
            Io::Alone(stream) => stream,
            Io::Shared(conn) => {
                self.app.http.release(conn.slot());
                // The JS thread never keeps a clone (see `Slots`), and the last response
                // was flushed before this request was read.
                Arc::try_unwrap(conn).ok()?.into_stream()
            }
            Io::Gone => return None,
        };
        Some((stream, request))
    }

    /// Registers the connection for JS (once).
    fn shared(&mut self) -> Option<Arc<HttpConn>> {
        if let Io::Shared(conn) = &self.io {
            return Some(conn.clone());
        }
        let Io::Alone(stream) = std::mem::replace(&mut self.io, Io::Gone) else {
            return None;
        };
        let http = &self.app.http;
        let mut stream = Some(stream);
        let conn = http.lock_slots().insert_with(|slot| {
            let stream = stream.take().expect("called once");
            Arc::new(HttpConn::new(stream, slot, http.link()))
        });
        match conn {
            Some(conn) => {
                self.io = Io::Shared(conn.clone());
                Some(conn)
            }
            None => {
                self.io = Io::Alone(stream.take()?);
                None
            }
        }
    }

    /// Serves one request: to JS when routes matched, else a 404 from here. True if the
    /// connection may carry another request.
    async fn exchange(
        &mut self,
        head: RequestHead,
        routes: Vec<(usize, Vec<String>)>,
        wants_ws: bool,
    ) -> Next {
        let Some(conn) = self.shared() else {
            return Next::Drop;
        };
        let mut decoder = BodyDecoder::new(head.framing());
        let has_body = !decoder.is_done();
        let serial = if routes.is_empty() {
            0
        } else {
            self.app.http.next_serial()
        };
        {
            let mut ex = conn.lock();
            let options = ResponseOptions::for_request(&head, Some(now_date()));
            ex.start(serial, options, has_body, head.expect_continue());
            if serial == 0 {
                let mut out = Vec::with_capacity(256);
                // An upgrade request nobody takes expects no further use of the socket.
                ex.not_found(self.app, &mut out, wants_ws);
                conn.io.write(&out, false);
            }
        }
        let mut events_full = false;
        if serial != 0 {
            let payload = request::encode(&head, &routes, serial, self.peer);
            let flags = request::flags(&head, has_body);
            let ((), full) = self
                .app
                .events
                .with_batch(|b| b.push(conn.slot(), kind::HTTP_REQUEST, flags, 0, &payload));
            events_full = full;
        }
        drop(head);
        self.drive(&conn, &mut decoder, events_full).await
    }

    /// Runs the exchange until the response ended, the body was read and the response
    /// flushed. True if the connection may carry another request.
    async fn drive(
        &mut self,
        conn: &Arc<HttpConn>,
        decoder: &mut BodyDecoder,
        mut events_full: bool,
    ) -> Next {
        let slot = conn.slot();
        let mut last_read = Instant::now();
        let mut last_write = Instant::now();
        loop {
            let (done, keep_alive, body, paused) = {
                let mut ex = conn.lock();
                if ex.closing {
                    return Next::Drop;
                }
                if ex.want_writable && !conn.io.wants_write() {
                    ex.want_writable = false;
                    writable_event(&self.app.events, slot, ex.serial);
                }
                (ex.is_done(), ex.keep_alive(), ex.body, ex.paused)
            };
            let body_done = decoder.is_done();
            let queued = conn.io.wants_write();
            if done && (!keep_alive || body_done) && !queued {
                return if keep_alive {
                    Next::KeepAlive
                } else {
                    Next::Close
                };
            }
            let deliver = body == Body::Wanted;
            let reading_body = !body_done
                && match body {
                    Body::Wanted => !paused && !events_full,
                    Body::Discard => !done || keep_alive,
                    Body::None | Body::Undecided => false,
                };
            if reading_body && !self.buf.is_empty() {
                match feed(self.app, slot, decoder, deliver, &self.buf) {
                    Ok((used, full)) => {
                        self.buf.drain(..used);
                        events_full |= full;
                    }
                    Err(e) => return self.invalid_body(conn, e).await,
                }
                continue;
            }
            let read_ahead =
                body_done && !done && !paused && !self.eof && self.buf.len() < READ_AHEAD;
            let deadline = match (reading_body, queued) {
                (true, true) => Some(last_read.max(last_write) + STALL_TIMEOUT),
                (true, false) => Some(last_read + STALL_TIMEOUT),
                (false, true) => Some(last_write + STALL_TIMEOUT),
                (false, false) => None,
            };
            let stream = &conn.io.stream;
            tokio::select! {
                biased;
                _ = conn.io.notify.notified() => {}
                r = stream.writable(), if queued => {
                    if r.is_err() || conn.io.flush_queue().is_err() {
                        return self.abort(conn);
                    }
                    last_write = Instant::now();
                }
                _ = self.app.events.wait_taken(), if events_full => events_full = false,
                r = stream.readable(), if reading_body || read_ahead => {
                    if r.is_err() {
                        return self.abort(conn);
                    }
                    match self.read(conn, decoder, deliver, reading_body) {
                        Read::Data { events_full: full } => {
                            last_read = Instant::now();
                            events_full |= full;
                        }
                        Read::Idle => {}
                        Read::Gone => {
                            self.eof = true;
                            return self.abort(conn);
                        }
                        Read::Invalid(e) => return self.invalid_body(conn, e).await,
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return self.abort(conn);
                }
            }
        }
    }

    /// One read: body bytes go to the decoder (and JS), other bytes (the next pipelined
    /// request) are kept.
    fn read(
        &mut self,
        conn: &HttpConn,
        decoder: &mut BodyDecoder,
        deliver: bool,
        reading_body: bool,
    ) -> Read {
        let app = self.app;
        let buf = &mut self.buf;
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let n = match conn.io.stream.try_read(&mut scratch) {
                Ok(0) => return Read::Gone,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Read::Idle,
                Err(_) => return Read::Gone,
            };
            let data = &scratch[..n];
            if !reading_body {
                buf.extend_from_slice(data);
                return Read::Data { events_full: false };
            }
            // `buf` is empty here: buffered body bytes are fed before reading.
            match feed(app, conn.slot(), decoder, deliver, data) {
                Ok((used, full)) => {
                    buf.extend_from_slice(&data[used..]);
                    Read::Data { events_full: full }
                }
                Err(e) => Read::Invalid(e),
            }
        })
    }

    /// The client left or stalled: JS hears of it if its response was pending.
    fn abort(&self, conn: &HttpConn) -> Next {
        let mut ex = conn.lock();
        if ex.serial != 0 && !ex.is_done() {
            let serial = ex.serial;
            self.app.events.with_batch(|b| {
                b.push(conn.slot(), kind::HTTP_ABORTED, 0, 0, &serial.to_le_bytes())
            });
        }
        ex.serial = 0;
        ex.closing = true;
        conn.io.close_outbound();
        Next::Drop
    }

    /// A malformed body: answered with the error if no response started, else dropped.
    async fn invalid_body(&mut self, conn: &Arc<HttpConn>, e: HttpError) -> Next {
        let respond = conn.lock().writer.state() == ResponseState::StatusPending;
        self.abort(conn);
        if respond {
            // Straight to the socket: the outbound queue is closed to JS now.
            let stream = &conn.io.stream;
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, stream.write_all(&e.response_bytes())).await;
            return Next::Close;
        }
        Next::Drop
    }

    /// Writes `bytes` (an error or refusal before closing) and waits until they are out.
    async fn send(&self, bytes: &[u8]) {
        match &self.io {
            Io::Alone(stream) => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.write_all(bytes)).await;
            }
            Io::Shared(conn) => {
                conn.io.write(bytes, false);
            }
            Io::Gone => {}
        }
    }

    /// Flushes what is queued (bounded), then closes the socket cleanly.
    async fn close_gracefully(&mut self) {
        if let Io::Shared(conn) = &self.io {
            conn.io.close_outbound();
            let deadline = Instant::now() + CLOSE_TIMEOUT;
            while conn.io.wants_write() {
                tokio::select! {
                    r = conn.io.stream.writable() => {
                        if r.is_err() || conn.io.flush_queue().is_err() {
                            return;
                        }
                    }
                    _ = sleep_until(deadline) => return,
                }
            }
        }
        if let Some(stream) = self.stream() {
            linger_close(stream).await;
        }
    }
}

/// Feeds body bytes from the start of `data` to the decoder, delivering them to JS if
/// `deliver`. Returns the bytes used (the rest belongs to the next request) and whether
/// JS has too many events queued.
fn feed(
    app: &AppCore,
    slot: u32,
    decoder: &mut BodyDecoder,
    deliver: bool,
    data: &[u8],
) -> Result<(usize, bool), HttpError> {
    if deliver {
        let (used, full) = app.events.with_batch(|batch| {
            decode(decoder, data, |body, last| {
                batch.push(slot, kind::HTTP_DATA, last as u8, 0, body)
            })
        });
        Ok((used?, full))
    } else {
        Ok((decode(decoder, data, |_, _| {})?, false))
    }
}

/// Runs the decoder over `data`, passing each piece of body (and the last, possibly
/// empty, one) to `deliver`; returns the bytes used.
fn decode(
    decoder: &mut BodyDecoder,
    data: &[u8],
    mut deliver: impl FnMut(&[u8], bool),
) -> Result<usize, HttpError> {
    let mut at = 0;
    while !decoder.is_done() && at < data.len() {
        let step = decoder.decode(&data[at..])?;
        let body = &data[at + step.body.start..at + step.body.end];
        if !body.is_empty() || step.done {
            deliver(body, step.done);
        }
        at += step.consumed;
        if step.consumed == 0 {
            break;
        }
    }
    Ok(at)
}

fn stream_of(io: &Io) -> Option<&Stream> {
    match io {
        Io::Alone(s) => Some(s),
        Io::Shared(c) => Some(&c.io.stream),
        Io::Gone => None,
    }
}

/// Resolves when `conn` (if any) is notified.
async fn notified(conn: Option<&HttpConn>) {
    match conn {
        Some(conn) => conn.io.notify.notified().await,
        None => std::future::pending().await,
    }
}
