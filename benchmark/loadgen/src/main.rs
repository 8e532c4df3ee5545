//! WebSocket load generator for the rsws benchmark harness.
//!
//! One OS thread, one current-thread tokio runtime, so the client uses at most
//! one core. Minimal client-side RFC 6455 codec (masked frames out, unmasked
//! frames in), no allocation per message.
//!
//! Modes:
//!   echo    --url ws://127.0.0.1:PORT/ --conns N --size BYTES --secs S [--warmup 1]
//!   fanout  --url ws://127.0.0.1:PORT/ --subs N --size BYTES --secs S [--warmup 1] [--window 64]
//!   connect --url ws://127.0.0.1:PORT/ --conns N [--hold SECS] [--concurrency 64]
//!
//! Output: JSON lines on stdout. `{"event":"start"}` marks the start of the
//! measured window (echo/fanout), the last line is the result.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

// ---------------------------------------------------------------- arguments

struct Args {
    mode: String,
    addr: String,
    host: String,
    path: String,
    conns: usize,
    subs: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    hold: Option<f64>,
    window: u64,
    concurrency: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen echo|fanout|connect --url ws://HOST:PORT/PATH [--conns N] [--subs N] \
         [--size BYTES] [--secs S] [--warmup S] [--hold S] [--window N] [--concurrency N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    if !matches!(mode.as_str(), "echo" | "fanout" | "connect") {
        usage()
    }
    let mut a = Args {
        mode,
        addr: String::new(),
        host: String::new(),
        path: "/".into(),
        conns: 10,
        subs: 100,
        size: 20,
        secs: 5.0,
        warmup: 1.0,
        hold: None,
        window: 64,
        concurrency: 64,
    };
    let mut url = None;
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let num = || -> f64 { v.parse().unwrap_or_else(|_| usage()) };
        match k.as_str() {
            "--url" => url = Some(v.clone()),
            "--conns" => a.conns = num() as usize,
            "--subs" => a.subs = num() as usize,
            "--size" => a.size = num() as usize,
            "--secs" => a.secs = num(),
            "--warmup" => a.warmup = num(),
            "--hold" => a.hold = Some(num()),
            "--window" => a.window = num() as u64,
            "--concurrency" => a.concurrency = (num() as usize).max(1),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let rest = url.strip_prefix("ws://").unwrap_or_else(|| {
        eprintln!("only ws:// URLs are supported");
        std::process::exit(2)
    });
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    a.addr = hostport.to_string();
    a.host = hostport.to_string();
    a.path = path.to_string();
    a
}

// ---------------------------------------------------------------- utilities

fn raise_nofile() {
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Own CPU time (user + system), microseconds.
fn cpu_us() -> u64 {
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

fn emit(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------- codec

fn header(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(mbit | len as u8);
    } else if len <= 0xFFFF {
        out.push(mbit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mbit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

/// A complete masked binary frame (client -> server).
fn client_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    header(&mut f, 2, payload.len(), Some(key));
    let start = f.len();
    f.extend_from_slice(payload);
    for (i, b) in f[start..].iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
    f
}

/// The unmasked frame a server sends back for `payload`.
fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    header(&mut f, 2, payload.len(), None);
    f.extend_from_slice(payload);
    f
}

fn mask_key() -> [u8; 4] {
    fastrand::u32(..).to_ne_bytes()
}

/// Streaming frame counter for server -> client traffic: parses headers and
/// skips payloads without copying them out of the 64 KiB read buffer.
struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    skip: u64,
    fin: bool,
    opcode: u8,
}

impl FrameReader {
    fn new(leftover: &[u8]) -> FrameReader {
        let mut buf = vec![0u8; 64 * 1024];
        buf[..leftover.len()].copy_from_slice(leftover);
        FrameReader { buf, start: 0, end: leftover.len(), skip: 0, fin: false, opcode: 0 }
    }

    /// Consumes buffered bytes; returns how many data messages completed.
    fn process(&mut self) -> io::Result<u64> {
        let mut done = 0;
        loop {
            if self.skip > 0 {
                let n = (self.skip).min((self.end - self.start) as u64);
                self.start += n as usize;
                self.skip -= n;
                if self.skip > 0 {
                    break;
                }
                done += self.complete()?;
                continue;
            }
            let avail = &self.buf[self.start..self.end];
            if avail.len() < 2 {
                break;
            }
            let (len, hlen) = match avail[1] & 0x7F {
                126 if avail.len() >= 4 => (u16::from_be_bytes([avail[2], avail[3]]) as u64, 4),
                127 if avail.len() >= 10 => {
                    (u64::from_be_bytes(avail[2..10].try_into().unwrap()), 10)
                }
                126 | 127 => break,
                n => (n as u64, 2),
            };
            if avail[1] & 0x80 != 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "masked server frame"));
            }
            self.fin = avail[0] & 0x80 != 0;
            self.opcode = avail[0] & 0x0F;
            self.start += hlen;
            if len == 0 {
                done += self.complete()?;
            } else {
                self.skip = len;
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < 16 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        Ok(done)
    }

    fn complete(&mut self) -> io::Result<u64> {
        match self.opcode {
            8 => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "server sent close")),
            0..=2 => Ok(self.fin as u64),
            _ => Ok(0), // ping/pong: ignored (idleTimeout 0 means none are sent)
        }
    }

    /// One read from the socket, then process. Err on EOF.
    async fn read_msgs(&mut self, s: &mut TcpStream) -> io::Result<u64> {
        let n = s.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"));
        }
        self.end += n;
        self.process()
    }
}

/// TCP connect + upgrade handshake. Returns the stream and any bytes read
/// past the response head.
async fn ws_connect(addr: &str, host: &str, path: &str) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    // RST on close: no TIME_WAIT pile-up across many runs.
    #[allow(deprecated)] // timeout 0 resets, it never blocks
    s.set_linger(Some(Duration::ZERO))?;
    let mut key = [0u8; 16];
    fastrand::fill(&mut key);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        base64(&key)
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&buf[..buf.len().min(60)]).to_string();
                return Err(io::Error::new(io::ErrorKind::Other, format!("handshake: {line}")));
            }
            return Ok((s, buf[i + 4..].to_vec()));
        }
        if buf.len() > 16 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "response head too large"));
        }
    }
}

/// Opens `n` connections with at most `concurrency` handshakes in flight.
async fn open_many(
    args: &Args,
    path: &str,
    n: usize,
    concurrency: usize,
) -> (Vec<(TcpStream, Vec<u8>)>, usize, String) {
    let sem = Rc::new(Semaphore::new(concurrency));
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let sem = sem.clone();
        let (addr, host, path) = (args.addr.clone(), args.host.clone(), path.to_string());
        handles.push(tokio::task::spawn_local(async move {
            let _permit = sem.acquire().await.unwrap();
            ws_connect(&addr, &host, &path).await
        }));
    }
    let mut conns = Vec::with_capacity(n);
    let mut errors = 0;
    let mut first_error = String::new();
    for h in handles {
        match h.await.unwrap() {
            Ok(c) => conns.push(c),
            Err(e) => {
                if errors == 0 {
                    first_error = e.to_string();
                }
                errors += 1;
            }
        }
    }
    (conns, errors, first_error)
}

// ---------------------------------------------------------------- histogram

/// Log-linear histogram, 1/128 relative precision, nanoseconds.
struct Hist {
    counts: Vec<u64>,
    total: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist { counts: vec![0; 64 * 128], total: 0 }
    }
    fn record(&mut self, v: u64) {
        let i = if v < 128 {
            v as usize
        } else {
            let e = 63 - v.leading_zeros() as usize;
            let shift = e - 7;
            (shift + 1) * 128 + ((v >> shift) as usize - 128)
        };
        self.counts[i] += 1;
        self.total += 1;
    }
    fn value(i: usize) -> u64 {
        if i < 128 {
            i as u64
        } else {
            let shift = i / 128 - 1;
            let m = (i % 128 + 128) as u64;
            (m << shift) + ((1u64 << shift) >> 1)
        }
    }
    fn percentile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return Hist::value(i) as f64;
            }
        }
        0.0
    }
}

// ---------------------------------------------------------------- modes

struct Shared {
    measuring: Cell<bool>,
    stop: Cell<bool>,
    msgs: Cell<u64>,
    errors: Cell<u64>,
    first_error: RefCell<String>,
}

impl Shared {
    fn new() -> Rc<Shared> {
        Rc::new(Shared {
            measuring: Cell::new(false),
            stop: Cell::new(false),
            msgs: Cell::new(0),
            errors: Cell::new(0),
            first_error: RefCell::new(String::new()),
        })
    }
    fn error(&self, e: io::Error) {
        if self.stop.get() {
            return;
        }
        if self.errors.get() == 0 {
            *self.first_error.borrow_mut() = e.to_string();
            eprintln!("loadgen: connection error: {e}");
        }
        self.errors.set(self.errors.get() + 1);
    }
}

fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Runs warmup, then the measured window; returns (msgs, secs, client cpu fraction).
async fn measure(args: &Args, shared: &Shared) -> (u64, f64, f64) {
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    shared.measuring.set(true);
    let m0 = shared.msgs.get();
    let c0 = cpu_us();
    let t0 = Instant::now();
    emit("{\"event\":\"start\"}");
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    shared.measuring.set(false);
    let secs = t0.elapsed().as_secs_f64();
    let msgs = shared.msgs.get() - m0;
    let cpu = (cpu_us() - c0) as f64 / 1e6 / secs;
    shared.stop.set(true);
    (msgs, secs, cpu)
}

async fn run_echo(args: Args) {
    let mut payload = vec![0u8; args.size];
    fastrand::fill(&mut payload);
    let expected = Rc::new(server_frame(&payload));
    let payload = Rc::new(payload);
    let (conns, cerr, cfirst) = open_many(&args, &args.path, args.conns, args.concurrency).await;
    if conns.is_empty() {
        emit(&format!("{{\"mode\":\"echo\",\"error\":{}}}", json_str(&cfirst)));
        std::process::exit(1);
    }
    let shared = Shared::new();
    if cerr > 0 {
        shared.errors.set(cerr as u64);
        *shared.first_error.borrow_mut() = cfirst;
    }
    let hist = Rc::new(RefCell::new(Hist::new()));
    let verify_failed = Rc::new(Cell::new(0u64));
    for (mut s, leftover) in conns {
        let (shared, hist, payload, expected, vf) =
            (shared.clone(), hist.clone(), payload.clone(), expected.clone(), verify_failed.clone());
        tokio::task::spawn_local(async move {
            let frame = client_frame(&payload, mask_key());
            // Verify one full echo byte for byte before the timed loop.
            let r: io::Result<Vec<u8>> = async {
                s.write_all(&frame).await?;
                let mut got = leftover;
                let need = expected.len();
                if got.len() < need {
                    let have = got.len();
                    got.resize(need, 0);
                    s.read_exact(&mut got[have..]).await?;
                }
                Ok(got)
            }
            .await;
            let extra = match r {
                Ok(got) => {
                    if got[..expected.len()] != expected[..] {
                        vf.set(vf.get() + 1);
                    }
                    got[expected.len()..].to_vec()
                }
                Err(e) => return shared.error(e),
            };
            let mut reader = FrameReader::new(&extra);
            // Anything already buffered would be a protocol surprise; process it.
            if let Err(e) = reader.process() {
                return shared.error(e);
            }
            let result: io::Result<()> = async {
                while !shared.stop.get() {
                    let t0 = Instant::now();
                    s.write_all(&frame).await?;
                    let mut got = 0;
                    while got == 0 {
                        got = reader.read_msgs(&mut s).await?;
                    }
                    if shared.measuring.get() {
                        hist.borrow_mut().record(t0.elapsed().as_nanos() as u64);
                        shared.msgs.set(shared.msgs.get() + 1);
                    }
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                shared.error(e);
            }
        });
    }
    let (msgs, secs, cpu) = measure(&args, &shared).await;
    let h = hist.borrow();
    emit(&format!(
        "{{\"mode\":\"echo\",\"conns\":{},\"size\":{},\"msgs\":{},\"secs\":{:.3},\"rate\":{:.1},\
         \"p50_us\":{:.1},\"p99_us\":{:.1},\"client_cpu\":{:.3},\"errors\":{},\"verify_failed\":{},\
         \"first_error\":{}}}",
        args.conns,
        args.size,
        msgs,
        secs,
        msgs as f64 / secs,
        h.percentile(0.50) / 1000.0,
        h.percentile(0.99) / 1000.0,
        cpu,
        shared.errors.get(),
        verify_failed.get(),
        json_str(&shared.first_error.borrow()),
    ));
}

async fn run_fanout(args: Args) {
    let base = args.path.trim_end_matches('/').to_string();
    let (subs, cerr, cfirst) =
        open_many(&args, &format!("{base}/sub"), args.subs, args.concurrency).await;
    if subs.is_empty() {
        emit(&format!("{{\"mode\":\"fanout\",\"error\":{}}}", json_str(&cfirst)));
        std::process::exit(1);
    }
    let nsubs = subs.len() as u64;
    let shared = Shared::new();
    if cerr > 0 {
        shared.errors.set(cerr as u64);
        *shared.first_error.borrow_mut() = cfirst;
    }
    // Total deliveries (all the time, for the window) vs. measured (shared.msgs).
    let total = Rc::new(Cell::new(0u64));
    let sent = Rc::new(Cell::new(0u64));
    let waiting = Rc::new(Cell::new(false));
    let notify = Rc::new(Notify::new());
    let window = args.window.max(1);
    let resume_at = window / 2;
    for (mut s, leftover) in subs {
        let (shared, total, sent, waiting, notify) =
            (shared.clone(), total.clone(), sent.clone(), waiting.clone(), notify.clone());
        tokio::task::spawn_local(async move {
            let mut reader = FrameReader::new(&leftover);
            let result: io::Result<()> = async {
                loop {
                    let n = reader.read_msgs(&mut s).await?;
                    if n == 0 {
                        continue;
                    }
                    total.set(total.get() + n);
                    if shared.measuring.get() {
                        shared.msgs.set(shared.msgs.get() + n);
                    }
                    if waiting.get() && sent.get() - total.get() / nsubs <= resume_at {
                        waiting.set(false);
                        notify.notify_one();
                    }
                }
            }
            .await;
            if let Err(e) = result {
                shared.error(e);
            }
        });
    }
    // Let the server run its open handlers (subscribe) before publishing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut pubs, _, perr) = open_many(&args, &format!("{base}/pub"), 1, 1).await;
    let Some((mut p, _)) = pubs.pop() else {
        emit(&format!("{{\"mode\":\"fanout\",\"error\":{}}}", json_str(&perr)));
        std::process::exit(1);
    };
    let mut payload = vec![0u8; args.size];
    fastrand::fill(&mut payload);
    let frame = client_frame(&payload, mask_key());
    let flen = frame.len();
    let batch: Vec<u8> = frame.iter().copied().cycle().take(flen * window as usize).collect();
    let published_at_start = Rc::new(Cell::new(0u64));
    {
        let (shared, sent, total, waiting, notify) =
            (shared.clone(), sent.clone(), total.clone(), waiting.clone(), notify.clone());
        tokio::task::spawn_local(async move {
            let result: io::Result<()> = async {
                loop {
                    let ahead = sent.get().saturating_sub(total.get() / nsubs);
                    if ahead >= window {
                        waiting.set(true);
                        notify.notified().await;
                        continue;
                    }
                    let k = (window - ahead) as usize;
                    p.write_all(&batch[..k * flen]).await?;
                    sent.set(sent.get() + k as u64);
                }
            }
            .await;
            if let Err(e) = result {
                shared.error(e);
            }
        });
    }
    let sent2 = sent.clone();
    let pas = published_at_start.clone();
    let shared2 = shared.clone();
    // Record the published count at the start of the window.
    tokio::task::spawn_local(async move {
        while !shared2.measuring.get() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        pas.set(sent2.get());
    });
    if std::env::var_os("LOADGEN_TRACE").is_some() {
        let (sent, total, waiting) = (sent.clone(), total.clone(), waiting.clone());
        tokio::task::spawn_local(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                eprintln!(
                    "trace {:6.3}s sent {} delivered/sub {} waiting {}",
                    t0.elapsed().as_secs_f64(),
                    sent.get(),
                    total.get() / nsubs,
                    waiting.get()
                );
            }
        });
    }
    let (deliveries, secs, cpu) = measure(&args, &shared).await;
    let published = sent.get() - published_at_start.get();
    emit(&format!(
        "{{\"mode\":\"fanout\",\"subs\":{},\"size\":{},\"deliveries\":{},\"secs\":{:.3},\"rate\":{:.1},\
         \"published\":{},\"pub_rate\":{:.1},\"client_cpu\":{:.3},\"errors\":{},\"first_error\":{}}}",
        nsubs,
        args.size,
        deliveries,
        secs,
        deliveries as f64 / secs,
        published,
        published as f64 / secs,
        cpu,
        shared.errors.get(),
        json_str(&shared.first_error.borrow()),
    ));
}

async fn run_connect(args: Args) {
    let c0 = cpu_us();
    let t0 = Instant::now();
    let (conns, errors, first) = open_many(&args, &args.path, args.conns, args.concurrency).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_us() - c0) as f64 / 1e6 / secs;
    emit(&format!(
        "{{\"mode\":\"connect\",\"conns\":{},\"secs\":{:.3},\"rate\":{:.1},\"client_cpu\":{:.3},\
         \"errors\":{},\"first_error\":{}}}",
        conns.len(),
        secs,
        conns.len() as f64 / secs,
        cpu,
        errors,
        json_str(&first)
    ));
    // Hold the connections open until stdin closes or --hold elapses.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    match args.hold {
        Some(h) => tokio::time::sleep(Duration::from_secs_f64(h)).await,
        None => std::future::pending::<()>().await,
    }
    drop(conns);
}

fn main() {
    raise_nofile();
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        match args.mode.as_str() {
            "echo" => run_echo(args).await,
            "fanout" => run_fanout(args).await,
            _ => run_connect(args).await,
        }
    });
    // Exit without waiting for spawned tasks; sockets are reset by the kernel.
    std::process::exit(0);
}
