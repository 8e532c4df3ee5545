//! Readiness of an App's plain TCP connections from an epoll instance of its own, instead
//! of a Tokio registration per socket.
//!
//! Tokio keeps each registered socket's readiness in a `ScheduledIo` behind an `Arc`, both
//! aligned to 128 bytes: 256 bytes per connection, a third of what an idle rsws connection
//! holds. Here a socket's readiness is a [`Slot`] of 64 bytes. Sockets are registered
//! edge-triggered in the App's epoll instance, whose descriptor is itself registered with
//! the App's Tokio runtime (an epoll descriptor is readable while events are pending): one
//! task per App, running only while sockets are registered, collects the events, sets
//! the slots' bits and wakes the tasks waiting on them. Everything else (the connection
//! tasks, timers, the JS thread writing directly) is unchanged.
//!
//! Readiness works as in Tokio: bits set by events and cleared by a caller that saw
//! `WouldBlock`, unless an event arrived since it looked (a tick counts events), so a
//! write from the JS thread racing with an event never loses it. End of stream, hang-up
//! and errors stay set: the next call reports them.

use super::{local, lock};
use std::future::poll_fn;
use std::io::{self, IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::Interest;
use tokio::runtime::Handle;

const READABLE: usize = 1;
const WRITABLE: usize = 2;
const READ_CLOSED: usize = 4;
const WRITE_CLOSED: usize = 8;
const ERROR: usize = 16;
const BITS: usize = 0xffff;
/// The event count lives above the bits.
const TICK: usize = 1 << 16;
/// Events taken from the epoll instance per call.
const EVENTS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The bits that make a call in this direction worth trying.
    fn ready(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    /// The bit a `WouldBlock` clears.
    fn clears(self) -> usize {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }
}

/// One socket: its descriptor, readiness and the task waiting on it.
struct Slot {
    ready: AtomicUsize,
    /// The one task that waits on this socket (in either direction).
    waiter: Mutex<Option<Waker>>,
    reactor: Arc<Reactor>,
    /// Owned by the `Socket`, which closes it; the slot may outlive it (see `SlotRef`).
    fd: RawFd,
}

impl AsFd for Slot {
    /// Only while its `Socket` lives: the socket closes it.
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: open while the socket lives, and only the socket borrows it.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl Slot {
    fn on_event(&self, events: u32) {
        let mut bits = 0;
        if events & (libc::EPOLLIN | libc::EPOLLPRI) as u32 != 0 {
            bits |= READABLE;
        }
        if events & libc::EPOLLOUT as u32 != 0 {
            bits |= WRITABLE;
        }
        if events & libc::EPOLLRDHUP as u32 != 0 {
            bits |= READ_CLOSED;
        }
        if events & libc::EPOLLHUP as u32 != 0 {
            bits |= READ_CLOSED | WRITE_CLOSED;
        }
        if events & libc::EPOLLERR as u32 != 0 {
            bits |= ERROR;
        }
        let _ = self
            .ready
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some((cur & !BITS).wrapping_add(TICK) | (cur & BITS) | bits)
            });
        let waker = lock(&self.waiter).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Clears `dir`'s bit if no event arrived since `seen` was read.
    fn clear(&self, dir: Direction, seen: usize) {
        let _ = self
            .ready
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & !BITS == seen & !BITS).then_some(cur & !dir.clears())
            });
    }
}

/// A registered slot, owned by the epoll registration until the reactor task lets go.
struct SlotRef(*const Slot);

// SAFETY: the pointer is an `Arc<Slot>` turned into a raw pointer; `Slot` is Send + Sync.
unsafe impl Send for SlotRef {}

impl SlotRef {
    /// # Safety
    /// Once per registration, when no event batch that may name it is being processed.
    unsafe fn release(self) {
        drop(Arc::from_raw(self.0));
    }

    /// # Safety
    /// As `release`, for each.
    unsafe fn release_all(slots: Vec<SlotRef>) {
        for slot in slots {
            slot.release();
        }
    }
}

struct State {
    /// A reactor task exists (it may be about to end: see `Driving::drop`).
    running: bool,
    registered: usize,
    /// Slots deregistered while the task runs: released after the batch being processed.
    released: Vec<SlotRef>,
    /// The task, woken when the last socket goes (it ends then).
    task: Option<Waker>,
}

pub struct Reactor {
    epoll: OwnedFd,
    /// The runtime its task runs on; None when its owner polls it (see `new_driven`).
    runtime: Option<Handle>,
    state: Mutex<State>,
}

impl Reactor {
    /// A reactor whose task runs on `runtime` (the App's).
    pub fn new(runtime: Handle) -> io::Result<Arc<Reactor>> {
        Self::create(Some(runtime))
    }

    /// A reactor its owner drives: it watches [`Reactor::fd`] and calls
    /// [`Reactor::poll_now`] in its runtime's context, until [`Reactor::stop`]. A JS
    /// thread's runtime (`ioThreads: 0`) has its loop watch the descriptor directly: no
    /// task, and no second epoll call per wake-up for the nesting.
    pub fn new_driven() -> io::Result<Arc<Reactor>> {
        Self::create(None)
    }

    fn create(runtime: Option<Handle>) -> io::Result<Arc<Reactor>> {
        // SAFETY: plain syscall; the descriptor is owned from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(Reactor {
            // SAFETY: `fd` is a fresh descriptor nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            // A driven reactor counts as running until stopped.
            state: Mutex::new(State {
                running: runtime.is_none(),
                registered: 0,
                released: Vec::new(),
                task: None,
            }),
            runtime,
        }))
    }

    /// Readable while events are pending.
    pub fn fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    /// A driven reactor: applies the pending events (waking tasks) and releases the slots
    /// deregistered before. One caller at a time.
    pub fn poll_now(&self) {
        self.take_events();
        self.release_deregistered();
    }

    /// A driven reactor's owner stops polling it: deregistered slots are released at once
    /// from now on.
    pub fn stop(&self) {
        let released = {
            let mut state = lock(&self.state);
            state.running = false;
            std::mem::take(&mut state.released)
        };
        // SAFETY: nothing processes batches any more.
        unsafe { SlotRef::release_all(released) };
    }

    /// Registers a non-blocking connected socket. Must be called on the reactor's runtime
    /// or with it entered (the reactor task may be spawned).
    pub fn register(self: &Arc<Self>, io: std::net::TcpStream) -> io::Result<Socket> {
        let slot = Arc::new(Slot {
            // A fresh socket is writable, and reading it is worth one try.
            ready: AtomicUsize::new(READABLE | WRITABLE),
            waiter: Mutex::new(None),
            reactor: self.clone(),
            fd: io.as_raw_fd(),
        });
        let ptr = Arc::into_raw(slot.clone());
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: ptr as u64,
        };
        // SAFETY: valid descriptors and event.
        let r = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                slot.fd,
                &mut event,
            )
        };
        if r < 0 {
            // Read before freeing anything: the allocator may overwrite errno.
            let err = io::Error::last_os_error();
            // SAFETY: not registered, so no event names it. `io` closes the descriptor.
            unsafe { SlotRef(ptr).release() };
            return Err(err);
        }
        // The socket owns the descriptor from here on.
        let _ = io.into_raw_fd();
        let start = {
            let mut state = lock(&self.state);
            state.registered += 1;
            self.runtime.is_some() && !std::mem::replace(&mut state.running, true)
        };
        if start {
            self.spawn_task();
        }
        Ok(Socket(slot))
    }

    fn spawn_task(self: &Arc<Self>) {
        if let Some(runtime) = &self.runtime {
            drop(local::spawn_on(runtime, drive(self.clone())));
        }
    }

    /// Deregisters and closes the socket's descriptor. The slot's memory stays while an
    /// event batch may name it.
    fn deregister(&self, slot: *const Slot) {
        // SAFETY: the caller's socket holds the slot, and owns its open descriptor.
        let fd = unsafe { (*slot).fd };
        // SAFETY: plain syscalls on that descriptor, which nothing uses after this.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
            libc::close(fd);
        }
        let mut state = lock(&self.state);
        state.registered -= 1;
        let last = if state.registered == 0 {
            state.task.take()
        } else {
            None
        };
        if state.running {
            state.released.push(SlotRef(slot));
            drop(state);
        } else {
            drop(state);
            // SAFETY: no task runs, so no batch names it; this registration's reference.
            unsafe { SlotRef(slot).release() };
        }
        if let Some(task) = last {
            task.wake();
        }
    }

    /// The task's wait: for events, or None once no socket is registered.
    fn poll_events<'a>(
        &self,
        afd: &'a AsyncFd<EpollRef>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<AsyncFdReadyGuard<'a, EpollRef>>>> {
        {
            let mut state = lock(&self.state);
            if state.registered == 0 {
                return Poll::Ready(None);
            }
            match &state.task {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.task = Some(cx.waker().clone()),
            }
        }
        afd.poll_read_ready(cx).map(Some)
    }

    /// Takes the pending events and applies them to their slots.
    fn take_events(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            // SAFETY: the buffer holds EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as i32,
                    0,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            for e in &events[..n as usize] {
                // SAFETY: registered slots are released only after the batch (see
                // `deregister` and `release_deregistered`).
                let slot = unsafe { &*(e.u64 as *const Slot) };
                slot.on_event(e.events);
            }
            if (n as usize) < EVENTS {
                return;
            }
        }
    }

    /// Releases the slots deregistered so far.
    fn release_deregistered(&self) {
        let released = std::mem::take(&mut lock(&self.state).released);
        // SAFETY: the batch that could name them was processed.
        unsafe { SlotRef::release_all(released) };
    }
}

/// The reactor's epoll descriptor as Tokio sees it (not closed by `AsyncFd`).
struct EpollRef(RawFd);

impl AsRawFd for EpollRef {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Ends a reactor task: releases what was deregistered, and starts a new task if a
/// socket was registered while this one was deciding to stop (it saw none). Runs after
/// the task's `AsyncFd` is gone, so two never register the descriptor at once.
struct Driving {
    reactor: Arc<Reactor>,
    /// False when the runtime drops the task (shutting down): no new task then.
    finished: bool,
}

impl Drop for Driving {
    fn drop(&mut self) {
        let (restart, released) = {
            let mut state = lock(&self.reactor.state);
            let restart = self.finished && state.registered > 0;
            state.running = restart;
            state.task = None;
            (restart, std::mem::take(&mut state.released))
        };
        // SAFETY: no batch is being processed any more.
        unsafe { SlotRef::release_all(released) };
        if restart {
            self.reactor.spawn_task();
        }
    }
}

async fn drive(reactor: Arc<Reactor>) {
    let mut driving = Driving {
        reactor: reactor.clone(),
        finished: false,
    };
    // SAFETY: the descriptor stays open while the reactor lives, and this task holds it.
    let afd = unsafe {
        AsyncFd::register_with_interest(EpollRef(reactor.epoll.as_raw_fd()), Interest::READABLE)
    };
    if let Ok(afd) = afd {
        while let Some(Ok(mut ready)) = poll_fn(|cx| reactor.poll_events(&afd, cx)).await {
            reactor.take_events();
            ready.clear_ready();
            reactor.release_deregistered();
        }
    }
    driving.finished = true;
}

/// A connected socket whose readiness comes from a [`Reactor`]: 8 bytes where it is held,
/// the 64-byte slot behind.
pub struct Socket(Arc<Slot>);

impl Drop for Socket {
    fn drop(&mut self) {
        self.0.reactor.deregister(Arc::as_ptr(&self.0));
    }
}

impl Socket {
    /// Ready when a call in `dir` is worth trying; otherwise the task is woken by the next
    /// event. Only one task may wait on a socket (a connection's).
    pub fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.ready.load(Ordering::Acquire) & dir.ready() != 0 {
            return Poll::Ready(());
        }
        {
            let mut waiter = lock(&self.0.waiter);
            match &*waiter {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waiter = Some(cx.waker().clone()),
            }
        }
        if self.0.ready.load(Ordering::Acquire) & dir.ready() != 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Waits until a call in `dir` is worth trying (errors show in that call).
    pub async fn ready(&self, dir: Direction) -> io::Result<()> {
        poll_fn(|cx| self.poll_ready(dir, cx)).await;
        Ok(())
    }

    /// Runs `f` if the socket is ready in `dir` (else `WouldBlock` without a syscall), and
    /// clears the readiness when `f` reports `WouldBlock`.
    pub fn try_io<R>(&self, dir: Direction, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        let seen = self.0.ready.load(Ordering::Acquire);
        if seen & dir.ready() == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let r = f();
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.0.clear(dir, seen);
        }
        r
    }

    /// Reads without waiting. A short read also clears the read readiness (the socket's
    /// queue is empty now), which saves the read that would only say `WouldBlock`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read_uninit(super::stream::as_uninit(buf))
    }

    /// As `try_read`, into memory that may not be initialized yet: the kernel writes
    /// the bytes it reports.
    pub fn try_read_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        let mut got = 0;
        let r = self.try_io(Direction::Read, || {
            let n = self.sock().recv(buf)?;
            if n == 0 || n == buf.len() {
                return Ok(n);
            }
            got = n;
            Err(io::ErrorKind::WouldBlock.into())
        });
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            r => r,
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_io(Direction::Write, || (&*self.sock()).write(buf))
    }

    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.try_io(Direction::Write, || (&*self.sock()).write_vectored(bufs))
    }

    pub fn try_peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_io(Direction::Read, || {
            // SAFETY: u8 to MaybeUninit<u8> is always sound; peek only writes to it.
            let buf = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
            self.sock().peek(buf)
        })
    }

    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.sock().shutdown(how)
    }

    fn sock(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    fn pair(reactor: &Arc<Reactor>) -> (Socket, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (reactor.register(server).unwrap(), client)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Waits for read readiness and reads, again after a `WouldBlock`.
    async fn read_when_ready(socket: &Socket, buf: &mut [u8]) -> usize {
        loop {
            tokio::time::timeout(Duration::from_secs(5), socket.ready(Direction::Read))
                .await
                .unwrap()
                .unwrap();
            match socket.try_read(buf) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_socket_is_small() {
        // The slot in its Arc fills the allocator's 64-byte class; the socket is a pointer.
        assert!(std::mem::size_of::<Slot>() <= 48);
        assert_eq!(std::mem::size_of::<Socket>(), 8);
    }

    #[test]
    fn a_read_waits_for_bytes_and_sees_the_end_of_stream() {
        let rt = rt();
        let reactor = Reactor::new(rt.handle().clone()).unwrap();
        rt.block_on(async {
            let (socket, mut client) = pair(&reactor);
            let mut buf = [0u8; 16];
            assert_eq!(
                socket.try_read(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            // Cleared by the WouldBlock: no syscall until an event.
            assert_eq!(
                socket.try_read(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                client.write_all(b"hello").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                drop(client);
            });
            tokio::time::timeout(Duration::from_secs(5), socket.ready(Direction::Read))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(socket.try_read(&mut buf).unwrap(), 5);
            assert_eq!(&buf[..5], b"hello");
            // The end of stream arrives later: wait for it, then it stays visible.
            assert_eq!(read_when_ready(&socket, &mut buf).await, 0);
            assert_eq!(socket.try_read(&mut buf).unwrap(), 0);
            writer.join().unwrap();
        });
    }

    #[test]
    fn a_full_socket_waits_until_the_peer_reads() {
        let rt = rt();
        let reactor = Reactor::new(rt.handle().clone()).unwrap();
        rt.block_on(async {
            let (socket, mut client) = pair(&reactor);
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0usize;
            loop {
                match socket.try_write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            let reader = std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0;
                while total < sent {
                    total += client.read(&mut buf).unwrap();
                }
                total
            });
            tokio::time::timeout(Duration::from_secs(5), socket.ready(Direction::Write))
                .await
                .unwrap()
                .unwrap();
            assert!(socket.try_write(b"more").unwrap() > 0);
            assert!(reader.join().unwrap() >= sent);
        });
    }

    #[test]
    fn the_task_ends_with_the_last_socket_and_starts_again() {
        let rt = rt();
        let reactor = Reactor::new(rt.handle().clone()).unwrap();
        let running = || lock(&reactor.state).running;
        rt.block_on(async {
            for _ in 0..3 {
                let (socket, mut client) = pair(&reactor);
                assert!(running());
                client.write_all(b"x").unwrap();
                assert_eq!(read_when_ready(&socket, &mut [0u8; 4]).await, 1);
                drop(socket);
                for _ in 0..500 {
                    if !running() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                assert!(!running(), "the task ends with the last socket");
            }
        });
        assert_eq!(lock(&reactor.state).registered, 0);
        assert!(lock(&reactor.state).released.is_empty());
    }

    #[test]
    fn a_driven_reactor_is_polled_by_its_owner() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reactor = Reactor::new_driven().unwrap();
        let (socket, mut client) = pair(&reactor);
        let mut buf = [0u8; 8];
        assert_eq!(
            socket.try_read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        client.write_all(b"hi").unwrap();
        // The owner's loop sees the descriptor readable and polls.
        let mut pfd = libc::pollfd {
            fd: reactor.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5000) }, 1);
        rt.block_on(async {
            let mut waiting = std::pin::pin!(socket.ready(Direction::Read));
            assert!(futures_poll(waiting.as_mut()).is_pending());
            reactor.poll_now();
            assert!(futures_poll(waiting.as_mut()).is_ready());
        });
        assert_eq!(socket.try_read(&mut buf).unwrap(), 2);
        // Deregistered slots wait for the next poll, or for the owner to stop.
        drop(socket);
        assert_eq!(lock(&reactor.state).released.len(), 1);
        reactor.stop();
        assert!(lock(&reactor.state).released.is_empty());
        let (socket, _client) = pair(&reactor);
        drop(socket);
        assert!(lock(&reactor.state).released.is_empty(), "released at once");
        assert_eq!(lock(&reactor.state).registered, 0);
    }

    #[test]
    fn a_would_block_keeps_an_event_that_arrived_after_the_look() {
        let reactor = Reactor::new_driven().unwrap();
        let (socket, _client) = pair(&reactor);
        let slot = &socket.0;
        let seen = slot.ready.load(Ordering::Acquire);
        // An event lands between the look and the WouldBlock (the JS thread's write
        // racing with the reactor): the readiness stays.
        slot.on_event(libc::EPOLLOUT as u32);
        slot.clear(Direction::Write, seen);
        assert_ne!(slot.ready.load(Ordering::Acquire) & WRITABLE, 0);
        // Without an event in between, it is cleared; closed bits never are.
        slot.on_event((libc::EPOLLIN | libc::EPOLLRDHUP) as u32);
        let seen = slot.ready.load(Ordering::Acquire);
        slot.clear(Direction::Read, seen);
        let now = slot.ready.load(Ordering::Acquire);
        assert_eq!(now & READABLE, 0);
        assert_ne!(
            now & Direction::Read.ready(),
            0,
            "the end of stream stays visible"
        );
        reactor.stop();
    }

    fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        let waker = Waker::noop();
        f.poll(&mut Context::from_waker(waker))
    }
}
