//! TLS under one connection (`SSLApp`): rustls' sans-I/O `ServerConnection` over the
//! non-blocking socket, with the same readiness-and-`try_*` interface as plain TCP.
//!
//! The handshake runs on tokio-rustls (`TlsServer::accept`); afterwards the stream is taken
//! apart (`into_inner`) and the `ServerConnection` is driven here, behind a mutex, so the JS
//! thread can write directly while the connection task waits for readiness, as with TCP.
//!
//! Writes: `try_write` reports bytes as written only once their records went to the kernel
//! or sit in rustls' outgoing buffer, which is kept to at most one record (16 KiB of
//! plaintext): pending records are flushed first, and while some remain nothing more is
//! taken (`WouldBlock`), so the caller's queue, which counts as backpressure, holds the rest.
//! Records rustls still holds are flushed by the connection task (`has_pending_output`).
//!
//! Reads: decrypted bytes rustls holds are served first; otherwise records are read from the
//! socket (in bulk into a per-thread buffer when the caller's buffer is large, so a big
//! message costs one syscall per ~48 KiB rather than per 4 KiB) and decrypted into the
//! caller's buffer. `readable()` is ready at once while decrypted bytes (or the end of the
//! stream) wait.

use super::app::AppCore;
use super::connection::{self, HANDSHAKE_TIMEOUT};
use super::stream::Stream;
use super::tls::TlsServer;
use rustls::ServerConnection;
use std::cell::RefCell;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncWrite};

/// Plaintext fed to rustls per write: one full record.
const MAX_PLAINTEXT_PER_WRITE: usize = 16 * 1024;
/// The largest TLS record on the wire (rustls' `MAX_WIRE_SIZE`: 16 KiB + 2 KiB + header).
const MAX_RECORD_WIRE: usize = 16 * 1024 + 2048 + 5;
/// Ciphertext read from the socket at once on the bulk path.
const CIPHER_LEN: usize = 64 * 1024;
/// Below this much room in the caller's buffer, rustls reads from the socket itself (at
/// most 4 KiB per call) instead of the bulk path.
const BULK_MIN_ROOM: usize = MAX_RECORD_WIRE + 4096;

thread_local! {
    /// Ciphertext read from the socket, fed to rustls at once (bulk reads).
    static CIPHER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub struct TlsStream {
    /// The socket under TLS: `Stream::Tcp` or `Stream::Unix`, never `Stream::Tls`.
    io: Stream,
    conn: Mutex<ServerConnection>,
    /// rustls holds records not yet written to the socket (mirrors `wants_write`, updated
    /// under the lock, read without it).
    pending_out: AtomicBool,
    /// Decrypted bytes wait in rustls, or the end of the stream was seen: a read succeeds
    /// without socket readiness.
    read_ready: AtomicBool,
}

/// The socket as `std::io` for rustls: non-blocking, `WouldBlock` when it has nothing.
struct SocketIo<'a>(&'a Stream);

impl Read for SocketIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for SocketIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl TlsStream {
    /// Wraps a socket whose handshake is complete. `io` must be a plain socket.
    pub fn new(io: Stream, mut conn: ServerConnection) -> Self {
        debug_assert!(!matches!(io, Stream::Tls(_)));
        // Records that arrived with the handshake's last flight (the upgrade request often
        // does) are decrypted now, so `readable()` reports them.
        let _ = conn.process_new_packets();
        let stream = TlsStream {
            io,
            conn: Mutex::new(conn),
            pending_out: AtomicBool::new(false),
            read_ready: AtomicBool::new(false),
        };
        stream.update(&mut stream.lock());
        stream
    }

    /// The socket under TLS.
    pub fn socket(&self) -> &Stream {
        &self.io
    }

    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mirrors the connection's state into the flags read without the lock.
    fn update(&self, conn: &mut ServerConnection) {
        self.pending_out
            .store(conn.wants_write(), Ordering::Release);
        // `fill_buf` is WouldBlock only when nothing is buffered and the stream is open.
        let ready = !matches!(conn.reader().fill_buf(), Err(e) if would_block(&e));
        self.read_ready.store(ready, Ordering::Release);
    }

    /// True if decrypted bytes or the end of the stream wait: a read needs no readiness.
    pub fn read_ready(&self) -> bool {
        self.read_ready.load(Ordering::Acquire)
    }

    /// True if rustls holds records the socket has not taken yet.
    pub fn has_pending_output(&self) -> bool {
        self.pending_out.load(Ordering::Acquire)
    }

    /// Writes the records rustls holds. `WouldBlock` when the socket refused some.
    fn flush_locked(&self, conn: &mut ServerConnection) -> io::Result<()> {
        while conn.wants_write() {
            match conn.write_tls(&mut SocketIo(&self.io)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes the records rustls holds, as far as the socket takes them.
    pub fn flush_output(&self) -> io::Result<()> {
        if !self.has_pending_output() {
            return Ok(());
        }
        let mut conn = self.lock();
        let r = self.flush_locked(&mut conn);
        self.update(&mut conn);
        match r {
            Err(e) if would_block(&e) => Ok(()),
            other => other,
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(MAX_PLAINTEXT_PER_WRITE);
        self.write_with(take, |conn| conn.writer().write(&buf[..take]))
    }

    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // At most one record's worth of plaintext, across the slices (rustls packs them
        // into one record).
        let mut parts = [IoSlice::new(&[]); 64];
        let mut count = 0;
        let mut total = 0;
        for b in bufs.iter().take(parts.len()) {
            let take = b.len().min(MAX_PLAINTEXT_PER_WRITE - total);
            parts[count] = IoSlice::new(&b[..take]);
            count += 1;
            total += take;
            if total == MAX_PLAINTEXT_PER_WRITE {
                break;
            }
        }
        self.write_with(total, |conn| conn.writer().write_vectored(&parts[..count]))
    }

    /// Flushes what rustls holds; if the socket took all of it, encrypts with `feed`
    /// (bounded by the caller to one record) and tries to send that too.
    fn write_with(
        &self,
        len: usize,
        feed: impl FnOnce(&mut ServerConnection) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        let mut conn = self.lock();
        let r = (|| {
            self.flush_locked(&mut conn)?;
            // rustls' buffer is empty here, so it takes a record's worth; 0 would only
            // mean it is full, and must not read as "0 bytes written, go on".
            let n = feed(&mut conn)?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.flush_locked(&mut conn) {
                Err(e) if !would_block(&e) => Err(e),
                _ => Ok(n),
            }
        })();
        self.update(&mut conn);
        r
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut conn = self.lock();
        let r = self.read_locked(&mut conn, buf);
        // Answers the processing produced (alerts, key updates) go out now if they can;
        // what the socket refuses is flushed by the connection task.
        let _ = self.flush_locked(&mut conn);
        self.update(&mut conn);
        r
    }

    fn read_locked(&self, conn: &mut ServerConnection, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match plaintext(conn, buf) {
            Err(e) if would_block(&e) => {}
            other => return other,
        }
        // Nothing decrypted waits: read records until some plaintext comes out.
        loop {
            let read = if buf.len() >= BULK_MIN_ROOM {
                self.read_bulk(conn, buf)
            } else {
                self.read_small(conn, buf)
            };
            match read {
                // The socket is at its end: what was decrypted, else 0.
                Ok((0, filled)) => return Ok(filled),
                // A partial record, or a close_notify: read on, unless the stream ended.
                Ok((_, 0)) => match plaintext(conn, buf) {
                    Err(e) if would_block(&e) => continue,
                    other => return other,
                },
                Ok((_, filled)) => return Ok(filled),
                Err(e) => return Err(e),
            }
        }
    }

    /// One read of ciphertext into the thread's buffer, all of it decrypted into `buf`.
    /// Returns (ciphertext bytes read, plaintext bytes placed in `buf`).
    ///
    /// Reads at most `buf.len() - MAX_RECORD_WIRE` bytes: the plaintext they complete
    /// (with the partial record rustls may hold) then always fits in `buf`, so rustls'
    /// plaintext buffer is empty whenever more ciphertext is handed to it.
    fn read_bulk(&self, conn: &mut ServerConnection, buf: &mut [u8]) -> io::Result<(usize, usize)> {
        let want = (buf.len() - MAX_RECORD_WIRE).min(CIPHER_LEN);
        CIPHER.with_borrow_mut(|cipher| {
            if cipher.len() < CIPHER_LEN {
                cipher.resize(CIPHER_LEN, 0);
            }
            let n = self.io.try_read(&mut cipher[..want])?;
            if n == 0 {
                return self.at_eof(conn, buf);
            }
            let mut rest = &cipher[..n];
            let mut filled = 0;
            while !rest.is_empty() {
                // 0: a close_notify came; rustls takes nothing after it.
                if conn.read_tls(&mut rest)? == 0 {
                    break;
                }
                process(conn)?;
                filled += drain(conn, &mut buf[filled..]);
            }
            Ok((n, filled))
        })
    }

    /// One read of at most 4 KiB of ciphertext by rustls, for small buffers. Plaintext
    /// that does not fit stays in rustls for the next read.
    fn read_small(
        &self,
        conn: &mut ServerConnection,
        buf: &mut [u8],
    ) -> io::Result<(usize, usize)> {
        let n = conn.read_tls(&mut SocketIo(&self.io))?;
        if n == 0 {
            return self.at_eof(conn, buf);
        }
        process(conn)?;
        Ok((n, drain(conn, buf)))
    }

    /// The socket reported its end: rustls decides between a clean close and truncation;
    /// both read as the end of the stream here.
    fn at_eof(&self, conn: &mut ServerConnection, buf: &mut [u8]) -> io::Result<(usize, usize)> {
        let _ = conn.read_tls(&mut io::empty());
        process(conn)?;
        Ok((0, drain(conn, buf)))
    }

    pub async fn readable(&self) -> io::Result<()> {
        if self.read_ready() {
            return Ok(());
        }
        self.io.socket_readable().await
    }

    /// Waits until decrypted bytes are available and returns how many (0 at the end of
    /// the stream), without consuming them. Records are read and decrypted as they come.
    pub async fn peek_len(&self) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.lock();
                match conn.reader().fill_buf() {
                    Ok(chunk) => return Ok(chunk.len()),
                    Err(e) if would_block(&e) => {}
                    Err(_) => return Ok(0),
                }
            }
            self.io.socket_readable().await?;
            let mut conn = self.lock();
            let r = match conn.read_tls(&mut SocketIo(&self.io)) {
                Ok(0) => {
                    let _ = conn.read_tls(&mut io::empty());
                    process(&mut conn)
                }
                Ok(_) => process(&mut conn),
                Err(e) if would_block(&e) => Ok(()),
                Err(e) => Err(e),
            };
            let _ = self.flush_locked(&mut conn);
            self.update(&mut conn);
            r?;
        }
    }

    /// Sends close_notify (as far as the socket takes it now), then FIN.
    pub fn shutdown_write(&self) {
        {
            let mut conn = self.lock();
            conn.send_close_notify();
            let _ = self.flush_locked(&mut conn);
            self.update(&mut conn);
        }
        self.io.shutdown_write();
    }

    /// Writes everything rustls holds, waiting for writability as needed.
    pub async fn flush_all(&self) -> io::Result<()> {
        while self.has_pending_output() {
            self.io.socket_writable().await?;
            let mut conn = self.lock();
            let r = self.flush_locked(&mut conn);
            self.update(&mut conn);
            match r {
                Err(e) if would_block(&e) => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// Decrypts the records rustls has read. A TLS error fails the read (rustls queued the
/// alert, which the caller flushes).
fn process(conn: &mut ServerConnection) -> io::Result<()> {
    conn.process_new_packets()
        .map(|_| ())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Decrypted bytes into `buf`: Ok(0) at a clean or unclean end of stream, WouldBlock when
/// none wait.
fn plaintext(conn: &mut ServerConnection, buf: &mut [u8]) -> io::Result<usize> {
    match conn.reader().read(buf) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

/// As many decrypted bytes as fit in `buf` (0 when none wait or `buf` is full).
fn drain(conn: &mut ServerConnection, buf: &mut [u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    plaintext(conn, buf).unwrap_or(0)
}

/// An accepted `SSLApp` connection: the TLS handshake (bounded by the handshake timeout),
/// then the HTTP upgrade and the WebSocket, as for plain TCP. A failed or slow handshake
/// just drops the socket (rustls has sent an alert where one applies).
pub async fn serve<IO>(app: Arc<AppCore>, tls: Arc<TlsServer>, io: IO, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Into<Stream>,
{
    // Boxed: the handshake's state must not stay in every idle connection's task.
    let Some(stream) = Box::pin(handshake(&tls, io)).await else {
        return;
    };
    connection::serve(app, stream, peer).await;
}

async fn handshake<IO>(tls: &TlsServer, io: IO) -> Option<Stream>
where
    IO: AsyncRead + AsyncWrite + Unpin + Into<Stream>,
{
    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(io))
        .await
        .ok()?
        .ok()?;
    let (io, conn) = accepted.into_inner();
    Some(Stream::Tls(Box::new(TlsStream::new(io.into(), conn))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tls::tests::{Ca, Leaf};
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    type Client = tokio_rustls::client::TlsStream<TcpStream>;

    fn client_config(ca: &Ca) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A server-side `Stream::Tls` and a tokio-rustls client connected to it. `first`
    /// is written by the client right after its handshake, before the server unwraps.
    /// `send_buffer`: the server socket's SO_SNDBUF (the kernel's autotuned size if None).
    async fn pair_with(
        leaf: &Leaf,
        ca: &Ca,
        first: &'static [u8],
        send_buffer: Option<usize>,
    ) -> (Stream, Client) {
        let server = Arc::new(TlsServer::new(&leaf.options()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connector = tokio_rustls::TlsConnector::from(client_config(ca));
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut c = connector.connect(name, tcp).await.unwrap();
            c.write_all(first).await.unwrap();
            c.flush().await.unwrap();
            c
        });
        let (tcp, _) = listener.accept().await.unwrap();
        if let Some(len) = send_buffer {
            socket2::SockRef::from(&tcp)
                .set_send_buffer_size(len)
                .unwrap();
        }
        let stream = handshake(&server, tcp).await.expect("handshake");
        (stream, client.await.unwrap())
    }

    async fn pair(first: &'static [u8]) -> (Stream, Client) {
        let ca = Ca::new("test ca");
        let leaf = ca.server(&["localhost"]);
        pair_with(&leaf, &ca, first, None).await
    }

    /// Reads from the server side until `want` bytes arrived, with `buf_len`-byte reads.
    async fn read_exactly(stream: &Stream, want: usize, buf_len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(want);
        let mut buf = vec![0u8; buf_len];
        while out.len() < want {
            stream.readable().await.unwrap();
            match stream.try_read(&mut buf) {
                Ok(0) => panic!("end of stream after {} bytes", out.len()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => {}
                Err(e) => panic!("read error: {e}"),
            }
        }
        out
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 977) as u8).collect()
    }

    fn timeout<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
        tokio::time::timeout(std::time::Duration::from_secs(20), f)
    }

    #[tokio::test]
    async fn data_sent_with_the_handshake_is_readable_at_once() {
        let (stream, _client) = pair(b"GET / HTTP/1.1\r\n\r\n").await;
        let got = timeout(read_exactly(&stream, 18, 64 * 1024)).await.unwrap();
        assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn large_upload_through_bulk_and_small_reads() {
        for buf_len in [64 * 1024, 512] {
            let (stream, mut client) = pair(b"").await;
            let data = pattern(3 * 1024 * 1024 + 17);
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                // Uneven writes: records of many sizes, split across TCP reads.
                let mut at = 0;
                let mut step = 1;
                while at < sent.len() {
                    let end = (at + step).min(sent.len());
                    client.write_all(&sent[at..end]).await.unwrap();
                    at = end;
                    step = step * 3 % 70_001 + 1;
                }
                client.flush().await.unwrap();
                client
            });
            let got = timeout(read_exactly(&stream, data.len(), buf_len))
                .await
                .unwrap();
            assert!(got == data, "upload corrupted with {buf_len}-byte reads");
            drop(writer.await.unwrap());
        }
    }

    #[tokio::test]
    async fn large_download_with_bounded_pending_output() {
        // A small send buffer: with the kernel's own sizes, loopback can take all 4 MiB
        // without pushing back (seen with tcp_rmem up to 32 MiB).
        let ca = Ca::new("test ca");
        let leaf = ca.server(&["localhost"]);
        let (stream, mut client) = pair_with(&leaf, &ca, b"", Some(64 * 1024)).await;
        let data = pattern(4 * 1024 * 1024 + 5);
        let want = data.len();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; want];
            client.read_exact(&mut got).await.unwrap();
            got
        });
        let mut at = 0;
        let mut refusals = 0;
        timeout(async {
            while at < data.len() {
                match stream.try_write(&data[at..]) {
                    Ok(n) => {
                        assert!(n > 0 && n <= MAX_PLAINTEXT_PER_WRITE);
                        at += n;
                    }
                    Err(e) if would_block(&e) => {
                        refusals += 1;
                        // Refused only while a record waits in rustls.
                        assert!(stream.has_pending_output());
                        stream.writable().await.unwrap();
                        stream.flush_output().unwrap();
                    }
                    Err(e) => panic!("write error: {e}"),
                }
            }
            if let Stream::Tls(t) = &stream {
                t.flush_all().await.unwrap();
            }
        })
        .await
        .unwrap();
        assert!(!stream.has_pending_output());
        let got = timeout(reader).await.unwrap().unwrap();
        assert!(got == data, "download corrupted");
        assert!(refusals > 0, "the kernel never pushed back on 4 MiB");
    }

    #[tokio::test]
    async fn vectored_writes_pack_slices_into_records() {
        let (stream, mut client) = pair(b"").await;
        let parts: Vec<Vec<u8>> = (0..40).map(|i| pattern(700 + i * 13)).collect();
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let total: usize = parts.iter().map(Vec::len).sum();
        let n = stream.try_write_vectored(&slices).unwrap();
        assert_eq!(n, total.min(MAX_PLAINTEXT_PER_WRITE));
        let mut got = vec![0u8; n];
        timeout(client.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, parts.concat()[..n]);
    }

    #[tokio::test]
    async fn close_notify_reads_as_end_of_stream_both_ways() {
        let (stream, mut client) = pair(b"last words").await;
        client.shutdown().await.unwrap(); // close_notify + FIN
        assert_eq!(
            timeout(read_exactly(&stream, 10, 64 * 1024)).await.unwrap(),
            b"last words"
        );
        let mut buf = [0u8; 64];
        timeout(stream.readable()).await.unwrap().unwrap();
        assert_eq!(stream.try_read(&mut buf).unwrap(), 0);
        // Our close_notify: the client reads a clean end (no UnexpectedEof).
        stream.shutdown_write();
        let mut rest = Vec::new();
        timeout(client.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn peer_gone_without_close_notify_is_end_of_stream() {
        let (stream, client) = pair(b"").await;
        // FIN without close_notify (a plain close could be a reset: the client has not read
        // the session tickets).
        let (mut tcp, _) = client.into_inner();
        tcp.shutdown().await.unwrap();
        let mut buf = [0u8; 64 * 1024];
        timeout(stream.readable()).await.unwrap().unwrap();
        assert_eq!(stream.try_read(&mut buf).unwrap(), 0);
    }

    #[tokio::test]
    async fn peek_len_counts_decrypted_bytes_without_consuming_them() {
        let (stream, mut client) = pair(b"").await;
        client.write_all(b"abc").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(timeout(stream.peek_len()).await.unwrap().unwrap(), 3);
        assert_eq!(
            timeout(read_exactly(&stream, 3, 64 * 1024)).await.unwrap(),
            b"abc"
        );
        client.shutdown().await.unwrap();
        assert_eq!(timeout(stream.peek_len()).await.unwrap().unwrap(), 0);
    }

    #[tokio::test]
    async fn garbage_after_the_handshake_is_an_error() {
        let (stream, client) = pair(b"").await;
        let (mut tcp, _) = client.into_inner();
        // A record header announcing application data, then bytes that do not decrypt.
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        record.extend_from_slice(&[0x55; 0x40]);
        tcp.write_all(&record).await.unwrap();
        let mut buf = [0u8; 64 * 1024];
        let err = timeout(async {
            loop {
                stream.readable().await.unwrap();
                match stream.try_read(&mut buf) {
                    Err(e) if would_block(&e) => continue,
                    other => return other,
                }
            }
        })
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
