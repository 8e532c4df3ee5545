//! One TCP connection: the HTTP/1.1 upgrade, then the WebSocket read/write loop driving
//! the protocol core. Reads go into a per-thread scratch buffer; only an incomplete frame
//! is kept per connection, so idle connections hold no read buffer.

use super::app::{Admission, AppCore, Behavior};
use super::conn::{command, release, ConnShared, SendDeflate};
use super::events::{kind, Batch};
use super::stream::Stream;
use super::upgrade::{self, Decision};
use super::ws_timer::{TimerEvent, WsTimer};
use crate::protocol::close;
use crate::protocol::deflate::{self, Negotiated};
use crate::protocol::frame::{encode_close_payload, encode_frame, OpCode};
use crate::protocol::handshake::{self, HandshakeError, UpgradeRequest};
use crate::protocol::receiver::{CloseError, Handler, Payload, Receiver, Role};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(4);
const SCRATCH_LEN: usize = 64 * 1024;
/// Queued bytes past which pings are no longer answered (the peer is not reading).
const PONG_QUEUE_LIMIT: usize = 64 * 1024;
/// Reads per readiness event before yielding to other connections.
const READS_PER_WAKE: usize = 4;
/// A frame missing at least this much payload is read straight into its own buffer,
/// which saves copying it out of the scratch buffer; below it, one read into the scratch
/// buffer may also bring the frames that follow.
const DIRECT_READ_MIN: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_LEN]);
}

pub async fn serve(app: Arc<AppCore>, stream: Stream, peer: SocketAddr) {
    let Some(admission) = app.admit() else {
        Box::pin(respond(
            stream,
            "503 Service Unavailable",
            b"Too many connections",
        ))
        .await;
        return;
    };
    drop(app);
    // Boxed (here and for closing): these phases are short, and an unboxed future would
    // make every idle connection's task as large as the largest phase.
    let upgraded = Box::pin(upgrade(&admission, stream, peer)).await;
    super::runtime::handshake_done();
    let Some(upgraded) = upgraded else {
        return;
    };
    let Some((c, early_ending)) = Connection::open(admission, upgraded, peer) else {
        return; // the App holds its maximum number of connections
    };
    match early_ending {
        Some(ending) => c.finish_boxed(ending).await,
        // The open connection runs in a task of its own: this one's future also holds
        // what the upgrade phase needed, for as long as it lives.
        None => drop(super::local::spawn(c.serve())),
    }
}

/// A completed upgrade: the stream, route index, bytes after the request (the first
/// frames), the id of the JS upgrade request that accepted it (0 without a handler) and
/// the agreed permessage-deflate parameters.
type Upgraded = (Stream, usize, Vec<u8>, u32, Option<Box<Negotiated>>);

/// Reads and answers the upgrade request, asking the route's JS `upgrade` handler if it
/// has one; None if the request failed or was rejected.
async fn upgrade(app: &AppCore, stream: Stream, peer: SocketAddr) -> Option<Upgraded> {
    // Plain HTTP requests are served there until one is for a `.ws()` route.
    let (stream, request) = super::http::serve(app, stream, peer).await?;
    // Boxed: every connection waiting for its request holds this future, and a connection
    // storm's peak (and what the allocator keeps of it afterwards) grows with its size.
    Box::pin(answer(app, stream, request, peer)).await
}

/// Answers an upgrade request (or a failed one).
async fn answer(
    app: &AppCore,
    stream: Stream,
    request: Result<(UpgradeRequest, Vec<u8>), HandshakeError>,
    peer: SocketAddr,
) -> Option<Upgraded> {
    let (req, leftover) = match request {
        Ok(done) => done,
        Err(e) => return Box::pin(reject(stream, e)).await,
    };
    if app.is_refusing() {
        return Box::pin(respond(
            stream,
            "503 Service Unavailable",
            b"Server closing",
        ))
        .await;
    }
    let Some((route, params)) = app.route_for(&req.url) else {
        return Box::pin(respond(stream, "404 Not Found", b"Not Found")).await;
    };
    let mut out = Vec::with_capacity(256);
    let mut upgrade_id = 0;
    let behavior = app.behavior(route);
    let negotiate = |offer: &str| {
        (behavior.compression != 0 && !offer.is_empty())
            .then(|| deflate::negotiate(behavior.compression, offer))
            .flatten()
            .map(Box::new)
    };
    let negotiated;
    if behavior.has_upgrade_handler {
        let (id, decision) =
            Box::pin(upgrade::ask(app, &stream, &req, route, &params, peer)).await?;
        match decision {
            Decision::Accept {
                protocol,
                extensions,
                extra_headers,
                key,
            } => {
                upgrade_id = id;
                negotiated = negotiate(&extensions);
                handshake::write_accept_response(
                    &mut out,
                    &key,
                    protocol.as_deref(),
                    negotiated.as_ref().map(|n| n.response_header.as_str()),
                    &extra_headers,
                );
            }
            Decision::Reject {
                status_line,
                headers,
                body,
            } => {
                // An empty status line is `res.close()`: no response at all.
                if !status_line.is_empty() {
                    handshake::write_status_response(&mut out, &status_line, &headers, &body);
                    let _ = stream.write_all(&out).await;
                }
                stream.shutdown_write();
                return None;
            }
        }
    } else {
        negotiated = negotiate(&req.extensions);
        let extensions = negotiated.as_ref().map(|n| n.response_header.as_str());
        let protocol = req.first_protocol();
        handshake::write_accept_response(&mut out, &req.key, protocol, extensions, &[]);
    }
    // Not held across the write (they would be, until the end of the scope).
    drop((req, params));
    stream.write_all(&out).await.ok()?;
    Some((stream, route, leftover, upgrade_id, negotiated))
}

/// Answers with a plain-text status response and closes.
async fn respond(stream: Stream, status_line: &str, body: &[u8]) -> Option<Upgraded> {
    let mut out = Vec::new();
    let headers = [("Content-Type".to_string(), "text/plain".to_string())];
    handshake::write_status_response(&mut out, status_line, &headers, body);
    let _ = stream.write_all(&out).await;
    stream.shutdown_write();
    None
}

async fn reject(stream: Stream, err: HandshakeError) -> Option<Upgraded> {
    let mut out = Vec::new();
    err.write_response(&mut out);
    let _ = stream.write_all(&out).await;
    stream.shutdown_write();
    None
}

/// Collects what the protocol core reports while one read is processed.
struct Sink<'a> {
    batch: &'a mut Batch,
    conn: &'a ConnShared,
    id: u32,
    policy: &'a Policy,
    /// Pongs to send, encoded.
    replies: &'a mut Vec<u8>,
    /// False while the peer does not read what we send: a ping flood then gets no more
    /// pongs, so it cannot grow our queue without bound.
    answer_pings: bool,
    peer_close: Option<(u16, Vec<u8>)>,
    /// The server already ended the connection: incoming messages are not delivered.
    discard: bool,
}

impl Sink<'_> {
    /// The batch to queue an event for JS in, after the connection's deferred OPEN if it
    /// has one. Only events JS hears of announce the connection: pings and pongs answered
    /// here (`sendPingsAutomatically` keeping an idle connection alive) do not.
    fn events(&mut self) -> &mut Batch {
        self.conn.announce(self.batch);
        self.batch
    }
}

impl Handler for Sink<'_> {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        if self.discard {
            return;
        }
        let id = self.id;
        self.events().push_message(id, binary, payload);
    }

    fn ping(&mut self, payload: &[u8]) {
        if self.answer_pings {
            encode_frame(self.replies, OpCode::Pong, true, payload, None);
        }
        if self.policy.has_ping_handler && !self.discard {
            let id = self.id;
            self.events().push(id, kind::PING, 0, 0, payload);
        }
    }

    fn pong(&mut self, payload: &[u8]) {
        if self.policy.has_pong_handler && !self.discard {
            let id = self.id;
            self.events().push(id, kind::PONG, 0, 0, payload);
        }
    }

    fn close(&mut self, code: Option<u16>, reason: &[u8]) {
        self.peer_close = Some((code.unwrap_or(close::NO_STATUS), reason.to_vec()));
    }
}

/// How the WebSocket phase ended, reported to JS in the CLOSE event.
struct Ending {
    code: u16,
    reason: Vec<u8>,
    /// The peer closed: the code of the close frame to answer with, sent once JS has
    /// heard of the close and every frame it sent before that is written.
    echo: Option<u16>,
}

impl Ending {
    fn new(code: u16, reason: impl Into<Vec<u8>>) -> Self {
        Ending {
            code,
            reason: reason.into(),
            echo: None,
        }
    }
}

/// What the connection task needs of its route's `Behavior`, packed: the task holds it
/// for the connection's whole life.
#[derive(Clone, Copy)]
struct Policy {
    has_ping_handler: bool,
    has_pong_handler: bool,
    has_drain_handler: bool,
}

impl Policy {
    fn new(b: &Behavior) -> Self {
        Policy {
            has_ping_handler: b.has_ping_handler,
            has_pong_handler: b.has_pong_handler,
            has_drain_handler: b.has_drain_handler,
        }
    }
}

enum Step {
    Continue,
    /// Stop reading for now: JS has too many events queued.
    Pause,
    End(Ending),
}

struct Connection {
    /// The App, and this connection's place under its `maxConnections`.
    app: Admission,
    conn: Arc<ConnShared>,
    id: u32,
    policy: Policy,
    receiver: Receiver,
    /// With `idleTimeout` or `maxLifetime` only.
    timer: Option<Pin<Box<WsTimer>>>,
    /// The CLOSE event was reported (by `finish`). If the task ends without it (a panic
    /// unwinding through it, or the runtime dropping it), `Drop` reports it.
    reported: bool,
}

impl Drop for Connection {
    /// A panic in this connection's task ends only this connection: Tokio catches the
    /// panic, and here the socket is shut and JS gets its `close` (1006), so every `open`
    /// still has exactly one `close` and the slot is released.
    fn drop(&mut self) {
        let last = self.conn.done_with_slot(release::TASK_DONE);
        if !self.reported {
            self.conn.close_outbound();
            self.conn.stream.shutdown_write();
            self.app.closed(&self.conn, close::ABNORMAL, b"");
        } else if last {
            // Unwound after an early CLOSE event that JS already answered.
            self.app.lock_registry().release(self.id);
        }
    }
}

impl Connection {
    /// Registers the upgraded connection and reports it to JS, and processes the bytes
    /// that came with the request (and with them, maybe the end of the connection).
    /// None when the App is full or closing.
    fn open(
        app: Admission,
        upgraded: Upgraded,
        peer: SocketAddr,
    ) -> Option<(Connection, Option<Ending>)> {
        let (stream, route, mut leftover, upgrade_id, deflate) = upgraded;
        let behavior = app.behavior(route);
        let send_deflate = deflate.as_deref().map(SendDeflate::new);
        let conn = app.open(stream, route, &behavior, peer, upgrade_id, send_deflate)?;
        let id = conn.id();
        let mut receiver = Receiver::new(Role::Server, behavior.max_payload_length);
        if let Some(negotiated) = &deflate {
            receiver.set_inflater(Some(negotiated.inflater()));
        }
        let lifetime = behavior.max_lifetime;
        let mut c = Connection {
            app,
            conn,
            id,
            policy: Policy::new(&behavior),
            receiver,
            timer: WsTimer::new(
                behavior.idle_timeout,
                behavior.send_pings_automatically,
                lifetime,
            ),
            reported: false,
        };
        let mut early_ending = None;
        if !leftover.is_empty() {
            if let Step::End(e) = c.process(&mut leftover) {
                early_ending = Some(e);
            }
        }
        Some((c, early_ending))
    }

    /// The task of an open connection. Not an `async fn`: one would store `self` twice
    /// (rust-lang/rust#62958); an `async move` block keeps the captured one.
    #[allow(clippy::manual_async_fn)]
    fn serve(mut self) -> impl Future<Output = ()> + Send {
        async move {
            let ending = match self.run().await {
                Exit::End(e) => e,
                Exit::Closing => self.server_closing_boxed().await,
            };
            self.finish_boxed(ending).await;
            super::runtime::connection_closed();
        }
    }

    /// The closing phase, boxed by a plain function: the unboxed future must not be a
    /// temporary of the task's future, or every connection would reserve room for it.
    fn finish_boxed(self, ending: Ending) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.finish(ending))
    }

    fn server_closing_boxed(&mut self) -> Pin<Box<dyn Future<Output = Ending> + Send + '_>> {
        Box::pin(self.server_closing())
    }
}

/// What woke an idle connection and ended its WebSocket loop.
enum Exit {
    End(Ending),
    /// `ws.end()`: the closing handshake follows.
    Closing,
}

/// A wait for JS to take the event batch: boxed, since readers pause only under load.
type Paused = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Connection {
    /// The WebSocket loop until the connection ends or `ws.end()` starts the closing
    /// handshake. Polled in place (no `select!`): every wait keeps its waker where it is
    /// woken from (the socket's registration, `ConnShared::notify`, the boxed timer), so
    /// the future an idle connection holds is little more than `Connection`.
    fn run(&mut self) -> impl Future<Output = Exit> + Send + '_ {
        let mut paused: Option<Paused> = None;
        poll_fn(move |cx| loop {
            match self.poll_once(cx, &mut paused) {
                Poll::Ready(Some(exit)) => return Poll::Ready(exit),
                Poll::Ready(None) => continue,
                Poll::Pending => return Poll::Pending,
            }
        })
    }

    /// One step of the loop: the first ready source (commands first, then writes, reads
    /// and the timer) is handled; Pending when none is ready (all are registered). The
    /// socket's readiness polls take from Tokio's cooperative budget, so a busy connection
    /// still yields.
    fn poll_once(
        &mut self,
        cx: &mut Context<'_>,
        paused: &mut Option<Paused>,
    ) -> Poll<Option<Exit>> {
        let abnormal = || Poll::Ready(Some(Exit::End(Ending::new(close::ABNORMAL, ""))));
        if self.conn.notify.poll(cx).is_ready() {
            match self.conn.command() {
                command::ABORT => return abnormal(),
                command::END => return Poll::Ready(Some(Exit::Closing)),
                command::PANIC_FOR_TEST => {
                    panic!("rsws: connection task panic requested by a test")
                }
                _ => return Poll::Ready(None),
            }
        }
        let queued = self.conn.has_queued();
        if queued || self.conn.stream.has_pending_output() {
            if let Poll::Ready(r) = self.conn.stream.poll_write_ready(cx) {
                if r.is_err() || self.conn.flush_queue().is_err() {
                    return abnormal();
                }
                if self.policy.has_drain_handler && queued {
                    self.conn.queue_event(kind::DRAIN, 0, 0, &[]);
                }
                return Poll::Ready(None);
            }
        }
        if let Some(wait) = paused {
            if wait.as_mut().poll(cx).is_ready() {
                *paused = None;
                return Poll::Ready(None);
            }
        } else if let Poll::Ready(r) = self.conn.stream.poll_read_ready(cx) {
            if r.is_err() {
                return abnormal();
            }
            return match self.read_available() {
                Step::Continue => Poll::Ready(None),
                Step::Pause => {
                    let events = self.app.events.clone();
                    *paused = Some(Box::pin(async move { events.wait_taken().await }));
                    Poll::Ready(None)
                }
                Step::End(e) => Poll::Ready(Some(Exit::End(e))),
            };
        }
        if let Some(t) = &mut self.timer {
            if let Poll::Ready(event) = t.as_mut().poll(cx) {
                match event {
                    TimerEvent::End(reason) => {
                        return Poll::Ready(Some(Exit::End(Ending::new(close::ABNORMAL, reason))))
                    }
                    TimerEvent::Ping => {
                        let mut frame = Vec::with_capacity(2);
                        encode_frame(&mut frame, OpCode::Ping, true, b"", None);
                        self.conn.write(&frame, false);
                    }
                }
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }

    /// Reads what the socket has into the thread's scratch buffer and processes it. The
    /// rest of a large frame is read straight into the frame's own buffer instead.
    fn read_available(&mut self) -> Step {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            for _ in 0..READS_PER_WAKE {
                let stream = &self.conn.stream;
                let (read, direct, room) = match self
                    .receiver
                    .direct_target(DIRECT_READ_MIN)
                    .and_then(|target| Some((target.len(), stream.try_read_uninit(target)?)))
                {
                    Some((room, read)) => (read, true, room),
                    None => (stream.try_read(&mut scratch), false, scratch.len()),
                };
                match read {
                    Ok(0) => return Step::End(Ending::new(close::ABNORMAL, "")),
                    Ok(n) => {
                        if let Some(t) = &mut self.timer {
                            t.as_mut().received();
                        }
                        let step = if direct {
                            // SAFETY: the socket wrote the n bytes it reports into the
                            // room `direct_target` gave, and nothing ran on the receiver
                            // since.
                            self.deliver(|receiver, sink| unsafe {
                                receiver.receive_direct(n, sink)
                            })
                        } else {
                            self.process(&mut scratch[..n])
                        };
                        match step {
                            Step::Continue if n == room => continue,
                            step => return step,
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Continue,
                    Err(_) => return Step::End(Ending::new(close::ABNORMAL, "")),
                }
            }
            Step::Continue
        })
    }

    /// Feeds bytes to the protocol core and delivers what it reports.
    fn process(&mut self, data: &mut [u8]) -> Step {
        self.deliver(|receiver, sink| receiver.receive(data, sink))
    }

    /// Runs `feed` (bytes into the protocol core) and delivers what it reports.
    fn deliver(
        &mut self,
        feed: impl FnOnce(&mut Receiver, &mut Sink<'_>) -> Result<(), CloseError>,
    ) -> Step {
        let mut replies = Vec::new();
        let id = self.id;
        let policy = &self.policy;
        let receiver = &mut self.receiver;
        let conn = &self.conn;
        let answer_pings = conn.buffered_amount() <= PONG_QUEUE_LIMIT;
        let ((result, peer_close), full) = self.app.events.with_batch(|batch| {
            let mut sink = Sink {
                batch,
                conn,
                id,
                policy,
                replies: &mut replies,
                answer_pings,
                peer_close: None,
                discard: false,
            };
            let result = feed(receiver, &mut sink);
            let peer_close = sink.peer_close;
            // Pongs go out before JS is woken (at the end of with_batch), so they precede
            // anything the application sends in answer to the same read.
            if !replies.is_empty() {
                conn.write(&replies, false);
            }
            (result, peer_close)
        });
        if let Err(CloseError { code, reason }) = result {
            self.send_close(code, reason.as_bytes());
            return Step::End(Ending::new(code, reason));
        }
        if let Some((code, reason)) = peer_close {
            // Echo the peer's code and reason, as uWS.js does (an empty close is answered
            // with an empty close).
            let echo = if code == close::NO_STATUS { 0 } else { code };
            return Step::End(Ending {
                echo: Some(echo),
                ..Ending::new(code, reason)
            });
        }
        if full {
            Step::Pause
        } else {
            Step::Continue
        }
    }

    fn send_close(&self, code: u16, reason: &[u8]) {
        let mut payload = [0u8; 125];
        let n = encode_close_payload(code, reason, &mut payload);
        let mut frame = Vec::with_capacity(n + 2);
        encode_frame(&mut frame, OpCode::Close, true, &payload[..n], None);
        self.conn.write(&frame, true);
    }

    /// `ws.end()` was called: JS queued the close frame. Wait for the peer's close frame
    /// (delivering no more messages), bounded by a timeout. The ending carries the peer's
    /// close code, or 1006 when it never answered.
    async fn server_closing(&mut self) -> Ending {
        let abnormal = Ending::new(close::ABNORMAL, "");
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                _ = self.conn.notify.notified() => {
                    if self.conn.command() == command::ABORT {
                        return abnormal;
                    }
                }
                r = self.conn.stream.writable(), if self.conn.wants_write() => {
                    if r.is_err() || self.conn.flush_queue().is_err() {
                        return abnormal;
                    }
                }
                r = self.conn.stream.readable() => {
                    if r.is_err() {
                        return abnormal;
                    }
                    if let Some(code) = self.drain_until_close() {
                        return Ending::new(code, "");
                    }
                }
                _ = sleep_until(deadline) => return abnormal,
            }
        }
    }

    /// Reads while closing; once the peer's close frame, EOF or an error arrived, the
    /// code to report (the peer's, or 1006).
    fn drain_until_close(&mut self) -> Option<u16> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            match self.conn.stream.try_read(&mut scratch) {
                Ok(0) => Some(close::ABNORMAL),
                Ok(n) => {
                    let mut replies = Vec::new();
                    let mut batch = Batch::default();
                    // Discarding: nothing is queued for JS (so no deferred OPEN either).
                    let mut sink = Sink {
                        batch: &mut batch,
                        conn: &self.conn,
                        id: self.id,
                        policy: &self.policy,
                        replies: &mut replies,
                        answer_pings: false,
                        peer_close: None,
                        discard: true,
                    };
                    let result = self.receiver.receive(&mut scratch[..n], &mut sink);
                    match (result, sink.peer_close) {
                        (_, Some((code, _))) => Some(code),
                        (Err(_), None) => Some(close::ABNORMAL),
                        (Ok(()), None) => None,
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                Err(_) => Some(close::ABNORMAL),
            }
        })
    }

    /// Flushes what is queued (bounded), closes the socket cleanly and reports the close.
    async fn finish(mut self, ending: Ending) {
        let early = ending.echo.is_some() && !self.app.is_orphaned();
        if let Some(echo) = ending.echo {
            if early {
                // JS hears of the close now. Whatever it sends until its `close` handler
                // runs (`send` returned 1 or 0 for it) still goes out, before our close
                // frame: the peer reads data until that frame arrives (RFC 6455 5.5.1).
                self.reported = true;
                self.app.closed(&self.conn, ending.code, &ending.reason);
                self.until_released().await;
            }
            self.send_close(echo, &ending.reason);
        }
        self.conn.close_outbound();
        if self.conn.command() != command::ABORT {
            let deadline = Instant::now() + CLOSE_TIMEOUT;
            while self.conn.wants_write() && Instant::now() < deadline {
                tokio::select! {
                    r = self.conn.stream.writable() => {
                        if r.is_err() || self.conn.flush_queue().is_err() {
                            break;
                        }
                    }
                    _ = sleep_until(deadline) => break,
                }
            }
            linger_close(&self.conn.stream).await;
        }
        if early {
            self.app.buffered.set(self.id, 0);
            if self.conn.done_with_slot(release::TASK_DONE) {
                self.app.lock_registry().release(self.id);
            }
            return;
        }
        self.conn.done_with_slot(release::TASK_DONE);
        self.reported = true;
        self.app.closed(&self.conn, ending.code, &ending.reason);
    }

    /// After an early CLOSE event: writes what JS sends until it releases the id (its
    /// `close` handler ran), bounded by the close timeout in case JS is blocked.
    async fn until_released(&mut self) {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            // A notification after this check is kept by the signal for the select.
            if self.conn.js_released() || self.conn.command() == command::ABORT {
                return;
            }
            tokio::select! {
                _ = self.conn.notify.notified() => {}
                r = self.conn.stream.writable(), if self.conn.wants_write() => {
                    if r.is_err() || self.conn.flush_queue().is_err() {
                        return;
                    }
                }
                _ = sleep_until(deadline) => return,
            }
        }
    }
}

/// Half-closes the socket and waits briefly for the peer's FIN, so that unread bytes do
/// not turn our close into a reset (which would lose the close frame).
pub(super) async fn linger_close(stream: &Stream) {
    stream.shutdown_write();
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 512];
    loop {
        tokio::select! {
            r = stream.readable() => {
                if r.is_err() {
                    return;
                }
                match stream.try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
            _ = sleep_until(deadline) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::events::Waker;
    use crate::server::publish::PubSub;

    struct NoWake;
    impl Waker for NoWake {
        fn wake(&self) {}
    }

    /// Every open connection's task holds this future for its whole life (the upgrade
    /// phase runs in a task of its own): keep it small.
    #[test]
    fn connection_task_is_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let app = AppCore::new(Box::new(NoWake), Arc::new(PubSub::default()));
            let upgrade_phase = serve(app.clone(), Stream::from(stream), peer);
            let size = std::mem::size_of_val(&upgrade_phase);
            println!("upgrade phase task future: {size} bytes");
            assert!(size < 1024, "upgrade phase task future is {size} bytes");
            drop(upgrade_phase);

            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            app.add_route("/*", Behavior::default());
            let admission = app.admit().unwrap();
            let upgraded = (Stream::from(stream), 0, Vec::new(), 0, None);
            let (c, early) = Connection::open(admission, upgraded, peer).unwrap();
            assert!(early.is_none());
            let task = c.serve();
            let size = std::mem::size_of_val(&task);
            println!("connection task future: {size} bytes");
            // Tokio's task cell adds about 104 bytes (header, scheduler and id, trailer)
            // and is 128-byte aligned: up to 152 the cell stays within 256 bytes.
            assert!(size <= 152, "connection task future is {size} bytes");
        });
    }
}
