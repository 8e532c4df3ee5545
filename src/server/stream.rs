//! The byte stream under one connection: TCP, or a Unix domain socket (`listen_unix`).
//!
//! Only readiness and non-blocking calls are used, so the JS thread can write directly
//! (`try_write`) while the connection task waits for readiness; an enum keeps that
//! without dynamic dispatch on the hot path.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use tokio::io::Interest;
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
        }
    };
}

impl Stream {
    pub async fn readable(&self) -> io::Result<()> {
        each!(self, s => s.readable().await)
    }

    pub async fn writable(&self) -> io::Result<()> {
        each!(self, s => s.writable().await)
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.try_read(buf))
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.try_write(buf))
    }

    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each!(self, s => s.try_write_vectored(bufs))
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
        Ok(())
    }

    /// Waits for readable bytes and returns how many a peek saw (0 at end of stream).
    pub async fn peek_len(&self) -> io::Result<usize> {
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        loop {
            self.readable().await?;
            let r = each!(self, s => s.try_io(Interest::READABLE, || {
                socket2::SockRef::from(s).peek(&mut probe)
            }));
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Sends FIN: the peer reads the end of the stream after what was written.
    pub fn shutdown_write(&self) {
        let _ = each!(self, s => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write));
    }
}
