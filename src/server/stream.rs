//! The byte stream under one connection: TCP, a Unix domain socket (`listen_unix`), or
//! TLS over either (`SSLApp`, see `tls_stream`).
//!
//! Only readiness and non-blocking calls are used, so the JS thread can write directly
//! (`try_write`) while the connection task waits for readiness; an enum keeps that
//! without dynamic dispatch on the hot path.

#[cfg(target_os = "linux")]
use super::reactor::{Direction, Socket};
use super::tls_stream::TlsStream;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// Tokio's sockets, boxed on Linux: plain TCP connections use [`Socket`] there, so only
/// TLS, Unix sockets and tests use these, and every connection's `Stream` stays small.
#[cfg(target_os = "linux")]
type Held<T> = Box<T>;
#[cfg(not(target_os = "linux"))]
type Held<T> = T;

pub enum Stream {
    /// Plain TCP with its readiness from the App's own epoll instance (`reactor`).
    #[cfg(target_os = "linux")]
    Socket(Socket),
    Tcp(Held<TcpStream>),
    #[cfg(unix)]
    Unix(Held<UnixStream>),
    /// Boxed: TLS state is large, and plain connections must not pay for it.
    Tls(Box<TlsStream>),
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Tcp(s.into())
    }
}

#[cfg(unix)]
impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Self {
        Stream::Unix(s.into())
    }
}

/// `$e` on the socket of a plain Tokio stream, `$own` on a reactor socket; `$tls` for TLS.
macro_rules! each {
    ($self:expr, $o:ident => $own:expr, $s:ident => $e:expr, $t:ident => $tls:expr) => {
        match $self {
            #[cfg(target_os = "linux")]
            Stream::Socket($o) => $own,
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
            Stream::Tls($t) => $tls,
        }
    };
}

fn tls_in_tls() -> io::Error {
    io::Error::other("TLS inside TLS")
}

impl Stream {
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tls(t) => t.readable().await,
            s => s.socket_readable().await,
        }
    }

    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tls(t) => t.socket().socket_writable().await,
            s => s.socket_writable().await,
        }
    }

    /// As `readable`, polled in place: the waker is kept in the socket's registration,
    /// not in a future (idle connections hold nothing for the wait). Only one task may
    /// poll a stream's read readiness, and one its write readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tls(t) if t.read_ready() => Poll::Ready(Ok(())),
            Stream::Tls(t) => t.socket().poll_read_ready(cx),
            #[cfg(target_os = "linux")]
            Stream::Socket(s) => s.poll_ready(Direction::Read, cx).map(Ok),
            Stream::Tcp(s) => s.poll_read_ready(cx),
            #[cfg(unix)]
            Stream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    /// As `writable`, polled in place (see `poll_read_ready`).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tls(t) => t.socket().poll_write_ready(cx),
            #[cfg(target_os = "linux")]
            Stream::Socket(s) => s.poll_ready(Direction::Write, cx).map(Ok),
            Stream::Tcp(s) => s.poll_write_ready(cx),
            #[cfg(unix)]
            Stream::Unix(s) => s.poll_write_ready(cx),
        }
    }

    /// Readiness of a plain socket (TLS waits on its socket through this, which keeps the
    /// futures from nesting).
    pub(super) async fn socket_readable(&self) -> io::Result<()> {
        each!(self, o => o.ready(Direction::Read).await, s => s.readable().await, _t => Err(tls_in_tls()))
    }

    pub(super) async fn socket_writable(&self) -> io::Result<()> {
        each!(self, o => o.ready(Direction::Write).await, s => s.writable().await, _t => Err(tls_in_tls()))
    }

    /// Reads without waiting. A short read (the socket's queue is now empty) also clears
    /// the read readiness, so the next `readable()` sleeps until new bytes arrive instead
    /// of returning at once for a read that would only say `WouldBlock`: one syscall less
    /// per message on a request/response connection. Race-free: Tokio clears readiness
    /// only if no new event arrived since it was observed.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tls(t) => t.try_read(buf),
            plain => plain
                .try_read_uninit(as_uninit(buf))
                .expect("a plain socket reads into any memory"),
        }
    }

    /// As `try_read`, into memory that may not be initialized yet (the kernel writes the
    /// bytes it reports); None for TLS, whose plaintext comes out of a buffer of its own.
    pub fn try_read_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>> {
        let mut got = 0;
        let r = each!(self, o => return Some(o.try_read_uninit(buf)), s => s.try_io(Interest::READABLE, || {
            let n = socket2::SockRef::from(s).recv(buf)?;
            if n == 0 || n == buf.len() {
                return Ok(n);
            }
            got = n;
            Err(io::ErrorKind::WouldBlock.into())
        }), _t => return None);
        Some(match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            r => r,
        })
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        each!(self, o => o.try_write(buf), s => s.try_write(buf), t => t.try_write(buf))
    }

    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each!(self, o => o.try_write_vectored(bufs), s => s.try_write_vectored(bufs), t => t.try_write_vectored(bufs))
    }

    /// True if bytes reported as written still wait in user space to reach the socket
    /// (TLS records rustls holds); the connection task keeps write interest while so.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Stream::Tls(t) => t.has_pending_output(),
            _ => false,
        }
    }

    /// Writes such pending bytes as far as the socket takes them now.
    pub fn flush_output(&self) -> io::Result<()> {
        match self {
            Stream::Tls(t) => t.flush_output(),
            _ => Ok(()),
        }
    }

    /// Writes everything, waiting for writability as needed.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.try_write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        if let Stream::Tls(t) = self {
            t.flush_all().await?;
        }
        Ok(())
    }

    /// Waits for readable bytes and returns how many a peek saw (0 at end of stream).
    /// Over TLS: decrypted bytes.
    pub async fn peek_len(&self) -> io::Result<usize> {
        if let Stream::Tls(t) = self {
            return t.peek_len().await;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        loop {
            self.socket_readable().await?;
            let r = each!(self, o => o.try_peek(&mut [0u8; 1]), s => s.try_io(Interest::READABLE, || {
                socket2::SockRef::from(s).peek(&mut probe)
            }), _t => Err(tls_in_tls()));
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Sends FIN: the peer reads the end of the stream after what was written. Over TLS,
    /// a close_notify alert goes first.
    pub fn shutdown_write(&self) {
        let _ = each!(
            self,
            o => o.shutdown(std::net::Shutdown::Write),
            s => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            t => {
                t.shutdown_write();
                Ok(())
            }
        );
    }
}

/// `buf` as memory the kernel may write into. Sound for reads: they only ever write
/// initialized bytes into it.
pub(super) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; callers only write initialized bytes through it.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}
