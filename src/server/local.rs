//! A runtime driven by the thread that owns it (`ioThreads: 0`): a current-thread Tokio
//! runtime that never blocks a thread of its own. The owner (the binding layer, from the
//! JS thread's event loop) watches the runtime's epoll descriptor and calls [`drive`]
//! when it is readable, and again on a timer for Tokio's timers. Reads, the handlers and
//! writes then happen on one thread, as in uWS.js: no thread hop per message.
//!
//! Linux only: Tokio does not expose its epoll descriptor, so it is found through
//! `/proc/self/fdinfo` (the epoll instance a probe descriptor was just registered in).
//!
//! [`drive`]: LocalRuntime::drive

#[cfg(target_os = "linux")]
use super::reactor::Reactor;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
#[cfg(target_os = "linux")]
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::runtime::{Handle, Runtime};

thread_local! {
    /// Polls of tasks spawned through [`spawn`] on this thread: a round of the runtime
    /// that polled none ran out of work.
    static POLLS: Cell<u64> = const { Cell::new(0) };
}

/// A future whose polls are counted in `POLLS`.
pub struct Counted<F>(F);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        POLLS.with(|p| p.set(p.get().wrapping_add(1)));
        // SAFETY: structural pinning of the only field, never moved out.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx)
    }
}

/// `tokio::spawn` for every task of the server: on a [`LocalRuntime`], `drive` stops once
/// a round polled none of them.
pub fn spawn<F>(f: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Counted(f))
}

/// [`spawn`] on a given runtime.
pub fn spawn_on<F>(handle: &Handle, f: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn(Counted(f))
}

/// Rounds per drive at most, so that a flood cannot keep the owner's thread from its
/// other work; [`LocalRuntime::drive`] says when it stopped with work left.
const MAX_ROUNDS: usize = 64;

pub struct LocalRuntime {
    rt: Runtime,
    epoll_fd: i32,
    /// The sockets of this thread's Apps, polled by the thread's loop too (see `drive`).
    #[cfg(target_os = "linux")]
    reactor: Arc<Reactor>,
}

/// What an App on a [`LocalRuntime`] runs on.
#[derive(Clone)]
pub struct LocalHandle {
    pub runtime: Handle,
    #[cfg(target_os = "linux")]
    pub reactor: Arc<Reactor>,
}

impl Drop for LocalRuntime {
    /// Sockets dropped with the runtime's tasks (or later) release their slots at once.
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        self.reactor.stop();
    }
}

impl LocalRuntime {
    pub fn new() -> io::Result<LocalRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let epoll_fd = find_epoll_fd(&rt)?;
        Ok(LocalRuntime {
            rt,
            epoll_fd,
            #[cfg(target_os = "linux")]
            reactor: Reactor::new_driven()?,
        })
    }

    /// Readable when the runtime has I/O, a timer wake-up or a wake from another thread
    /// to process.
    pub fn fd(&self) -> i32 {
        self.epoll_fd
    }

    pub fn handle(&self) -> &Handle {
        self.rt.handle()
    }

    pub fn local_handle(&self) -> LocalHandle {
        LocalHandle {
            runtime: self.rt.handle().clone(),
            #[cfg(target_os = "linux")]
            reactor: self.reactor.clone(),
        }
    }

    /// Readable when the sockets of this thread's Apps have events: the owner watches it
    /// besides [`LocalRuntime::fd`] and drives when either is readable.
    #[cfg(target_os = "linux")]
    pub fn reactor_fd(&self) -> i32 {
        self.reactor.fd()
    }

    /// No task lives on the runtime (so no timer either): nothing to drive until a spawn,
    /// which shows on the descriptor.
    pub fn is_idle(&self) -> bool {
        self.rt.metrics().num_alive_tasks() == 0
    }

    /// Runs the runtime until a round (the ready tasks, then I/O and timers polled without
    /// blocking) polls no task. False if it stopped after `MAX_ROUNDS` with work left: the
    /// owner must drive again soon (the descriptor may not say so).
    /// Must not be called from inside a runtime (a task, or another drive).
    pub fn drive(&self) -> bool {
        self.rt.block_on(async {
            // Socket events first, in the runtime's context: the tasks they wake are
            // queued here, and run in the rounds below.
            #[cfg(target_os = "linux")]
            self.reactor.poll_now();
            let mut last = POLLS.with(Cell::get);
            for round in 0..MAX_ROUNDS {
                tokio::task::yield_now().await;
                let now = POLLS.with(Cell::get);
                // The first round only collected I/O: its tasks run in the second.
                if round > 0 && now == last {
                    return true;
                }
                last = now;
            }
            false
        })
    }
}

/// Finds the epoll instance of `rt`'s I/O driver: a probe socket is registered with it,
/// and the one epoll descriptor of this process whose `fdinfo` lists the probe (by
/// descriptor and inode) is the driver's.
#[cfg(target_os = "linux")]
fn find_epoll_fd(rt: &Runtime) -> io::Result<i32> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let (probe, _peer) = std::os::unix::net::UnixDatagram::pair()?;
    probe.set_nonblocking(true)?;
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", probe.as_raw_fd()))?.ino();
    let _guard = rt.enter();
    let registered = tokio::net::UnixDatagram::from_std(probe)?;
    let probe_fd = registered.as_raw_fd();
    for entry in std::fs::read_dir("/proc/self/fd")?.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.as_os_str() == "anon_inode:[eventpoll]");
        if is_epoll && watches(fd, probe_fd, ino) {
            return Ok(fd);
        }
    }
    Err(io::Error::other(
        "rsws: cannot find the I/O runtime's epoll descriptor",
    ))
}

#[cfg(not(target_os = "linux"))]
fn find_epoll_fd(_rt: &Runtime) -> io::Result<i32> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "rsws: ioThreads 0 (I/O on the JS thread) is only available on Linux",
    ))
}

/// Whether epoll descriptor `epoll` has descriptor `fd` with inode `ino` registered. An
/// `fdinfo` line reads `tfd:  7 events: 80000019 data: ... pos:0 ino:2f3a sdev:8`.
#[cfg(target_os = "linux")]
fn watches(epoll: i32, fd: i32, ino: u64) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{epoll}")) else {
        return false;
    };
    info.lines().any(|line| {
        let Some(rest) = line.strip_prefix("tfd:") else {
            return false;
        };
        let tfd = rest
            .split_whitespace()
            .next()
            .and_then(|t| t.parse::<i32>().ok());
        let tino = rest
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ino:"))
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        tfd == Some(fd) && tino == Some(ino)
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Whether `fd` is readable now (without taking anything from it).
    fn readable(fd: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn the_descriptor_tells_when_to_drive_and_driving_serves_sockets() {
        let local = LocalRuntime::new().unwrap();
        assert!(!readable(local.fd()));
        let listener = {
            let _g = local.handle().enter();
            let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            std.set_nonblocking(true).unwrap();
            tokio::net::TcpListener::from_std(std).unwrap()
        };
        let addr = listener.local_addr().unwrap();
        // An echo of one line, on this thread only when driven.
        spawn_on(local.handle(), async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        assert!(local.drive(), "the task ran and is waiting");
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        client.write_all(b"hello").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < 5 && start.elapsed() < Duration::from_secs(5) {
            if readable(local.fd()) {
                local.drive();
            }
            client.set_nonblocking(true).unwrap();
            let mut b = [0u8; 5];
            if let Ok(n) = client.read(&mut b) {
                got.extend_from_slice(&b[..n]);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(got, b"hello");
        assert!(!readable(local.fd()), "nothing left to do after the drive");
    }

    #[test]
    fn a_wake_from_another_thread_makes_the_descriptor_readable() {
        let local = LocalRuntime::new().unwrap();
        let signal = std::sync::Arc::new(tokio::sync::Notify::new());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        spawn_on(local.handle(), {
            let (signal, done) = (signal.clone(), done.clone());
            async move {
                signal.notified().await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        local.drive();
        assert!(!readable(local.fd()));
        std::thread::spawn(move || signal.notify_one())
            .join()
            .unwrap();
        assert!(
            readable(local.fd()),
            "the remote wake shows on the descriptor"
        );
        local.drive();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn timers_fire_when_driven_after_their_deadline() {
        let local = LocalRuntime::new().unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        spawn_on(local.handle(), {
            let done = done.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        local.drive();
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(30));
        local.drive();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn idle_until_a_task_is_spawned_and_again_once_it_ended() {
        let local = LocalRuntime::new().unwrap();
        assert!(local.is_idle());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        spawn_on(local.handle(), async move {
            let _ = rx.await;
        });
        assert!(
            readable(local.fd()),
            "a spawn from outside shows on the descriptor"
        );
        local.drive();
        assert!(!local.is_idle());
        tx.send(()).unwrap();
        local.drive();
        assert!(local.is_idle());
    }

    #[test]
    fn a_flood_of_tasks_stops_the_drive_with_work_left() {
        let local = LocalRuntime::new().unwrap();
        // A task that always wakes itself again.
        spawn_on(local.handle(), async {
            loop {
                tokio::task::yield_now().await;
            }
        });
        assert!(!local.drive(), "stopped after MAX_ROUNDS");
    }
}
