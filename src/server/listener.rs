//! Listening sockets: bound synchronously (so `listen` can answer at once, `false` when
//! the address is taken) and then accepted from on the I/O runtime.

use super::app::AppCore;
use super::connection;
use super::local;
use super::stream::Stream;
use super::tls_stream;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
#[cfg(not(target_os = "linux"))]
use tokio::net::TcpListener;
/// On Linux the listener is polled through Tokio but accepts plain sockets, which go to
/// the App's reactor without a Tokio registration of their own.
#[cfg(target_os = "linux")]
type TcpListener = tokio::io::unix::AsyncFd<std::net::TcpListener>;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

pub struct Listener {
    /// The bound TCP port (0 for a Unix socket).
    pub port: u16,
    socket: Bound,
    task: JoinHandle<()>,
}

enum Bound {
    Tcp(Arc<TcpListener>),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

impl Listener {
    /// Stops accepting (see the `Drop` impl, which does the work).
    pub fn close(self) {
        drop(self);
    }
}

impl Drop for Listener {
    /// Stops accepting at once: shutting the socket down takes it out of the listening
    /// state synchronously (a connect right after this is refused), while the accept task
    /// and with it the descriptor go away asynchronously. A Unix socket's path is removed.
    /// Also when the App is dropped without closing it: a bare `JoinHandle` drop would
    /// leave the accept loop (and the port) running forever.
    fn drop(&mut self) {
        let _ = match &self.socket {
            #[cfg(target_os = "linux")]
            Bound::Tcp(s) => socket2::SockRef::from(s.get_ref()).shutdown(std::net::Shutdown::Both),
            #[cfg(not(target_os = "linux"))]
            Bound::Tcp(s) => socket2::SockRef::from(&**s).shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            // No shutdown here: a shut-down Unix listener reports a sticky hang-up that
            // would make the accept loop spin until it is aborted. Removing the path
            // refuses new connects at once; the descriptor closes with the task.
            Bound::Unix(path) => std::fs::remove_file(path),
        };
        self.task.abort();
    }
}

/// Binds `host:port` (all interfaces, dual stack, when `host` is None).
/// Without `exclusive` the port is shared with other listeners through SO_REUSEPORT,
/// as uWebSockets.js does.
pub fn listen(
    app: &Arc<AppCore>,
    host: Option<&str>,
    port: u16,
    exclusive: bool,
) -> std::io::Result<Listener> {
    let addrs: Vec<SocketAddr> = match host {
        Some(h) if !h.is_empty() => (h, port).to_socket_addrs()?.collect(),
        _ => vec![
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
        ],
    };
    let mut last_err = std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address");
    for addr in addrs {
        match bind(addr, exclusive) {
            Ok(socket) => return start(app, socket),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

fn bind(addr: SocketAddr, exclusive: bool) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
    socket.set_reuse_port(!exclusive)?;
    #[cfg(not(unix))]
    let _ = exclusive;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn start(app: &Arc<AppCore>, socket: std::net::TcpListener) -> std::io::Result<Listener> {
    let rt = app.runtime();
    let _guard = rt.enter();
    #[cfg(target_os = "linux")]
    if app.tls.get().is_none() {
        app.reactor();
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the AsyncFd owns the listener, so the descriptor lives as long as it.
    let socket = Arc::new(
        unsafe { TcpListener::register_with_interest(socket, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)?,
    );
    #[cfg(not(target_os = "linux"))]
    let socket = Arc::new(TcpListener::from_std(socket)?);
    #[cfg(target_os = "linux")]
    let port = socket.get_ref().local_addr()?.port();
    #[cfg(not(target_os = "linux"))]
    let port = socket.local_addr()?.port();
    let task = local::spawn_on(&rt, accept_loop(app.clone(), socket.clone()));
    Ok(Listener {
        port,
        socket: Bound::Tcp(socket),
        task,
    })
}

/// Listens on a Unix domain socket at `path`. A stale socket file left by a previous
/// process is replaced; any other existing file is an error (AddrInUse).
#[cfg(unix)]
pub fn listen_unix(app: &Arc<AppCore>, path: &str) -> std::io::Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    let path = std::path::PathBuf::from(path);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        let in_use = std::os::unix::net::UnixStream::connect(&path).is_ok();
        if !meta.file_type().is_socket() || in_use {
            return Err(std::io::ErrorKind::AddrInUse.into());
        }
        std::fs::remove_file(&path)?;
    }
    let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
    std_listener.set_nonblocking(true)?;
    let rt = app.runtime();
    let _guard = rt.enter();
    let socket = Arc::new(UnixListener::from_std(std_listener)?);
    let task = local::spawn_on(&rt, accept_unix(app.clone(), socket.clone()));
    Ok(Listener {
        port: 0,
        socket: Bound::Unix(path),
        task,
    })
}

#[cfg(unix)]
async fn accept_unix(app: Arc<AppCore>, listener: Arc<UnixListener>) {
    // Unix peers have no IP address: JS reports an empty address for [::]:0.
    let peer = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => spawn_connection(&app, stream, peer),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn accept_loop(app: Arc<AppCore>, listener: Arc<TcpListener>) {
    loop {
        match accept(&listener).await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                serve_tcp(&app, stream, peer);
            }
            // Shut down by `close`: the task is being aborted.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return,
            // Out of file descriptors or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

#[cfg(target_os = "linux")]
async fn accept(listener: &TcpListener) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        if let Ok(accepted) = ready.try_io(|l| l.get_ref().accept()) {
            let (stream, peer) = accepted?;
            stream.set_nonblocking(true)?;
            return Ok((stream, peer));
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn accept(listener: &TcpListener) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    listener.accept().await
}

/// Serves an accepted TCP socket: a plain one from the App's reactor, a TLS one (whose
/// handshake needs Tokio's I/O traits) registered with Tokio.
#[cfg(target_os = "linux")]
fn serve_tcp(app: &Arc<AppCore>, stream: std::net::TcpStream, peer: SocketAddr) {
    if app.tls.get().is_none() {
        if let Some(reactor) = app.reactor() {
            // A failed registration (the kernel out of memory) closes the connection.
            if let Ok(socket) = reactor.register(stream) {
                drop(local::spawn(connection::serve(
                    app.clone(),
                    Stream::Socket(socket),
                    peer,
                )));
            }
            return;
        }
    }
    if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
        spawn_connection(app, stream, peer);
    }
}

#[cfg(not(target_os = "linux"))]
fn serve_tcp(app: &Arc<AppCore>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    spawn_connection(app, stream, peer);
}

/// Serves an accepted socket in its own task: after a TLS handshake for an `SSLApp`.
fn spawn_connection<S>(app: &Arc<AppCore>, socket: S, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Into<Stream> + Send + 'static,
{
    match app.tls.get() {
        None => drop(local::spawn(connection::serve(
            app.clone(),
            socket.into(),
            peer,
        ))),
        Some(tls) => drop(local::spawn(tls_stream::serve(
            app.clone(),
            tls.clone(),
            socket,
            peer,
        ))),
    }
}
