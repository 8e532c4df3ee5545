//! Live Rust heap per idle connection, without Node: the rsws server layer (no napi) under
//! a counting global allocator (over mimalloc v2, as the addon uses), N raw WebSocket
//! clients from `__test__/fixtures/raw-subscribers.js` in a child process. Prints RSS and
//! live heap per connection and the allocation sizes that grew by at least N/20.
//! Usage: `cargo run --release -- [N=10000] [IDLE_TIMEOUT_SECS=0]`; `CHILD=script.js` to
//! use another client (e.g. one that connects and never sends a request).
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
const NB: usize = 300;
static HIST: [AtomicIsize; NB] = [const { AtomicIsize::new(0) }; NB];
static M: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn bin(l: &Layout) -> usize {
    (l.size() / 16).min(NB - 1)
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        HIST[bin(&l)].fetch_add(1, Relaxed);
        M.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        HIST[bin(&l)].fetch_sub(1, Relaxed);
        M.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Relaxed);
        HIST[bin(&l)].fetch_sub(1, Relaxed);
        HIST[(n / 16).min(NB - 1)].fetch_add(1, Relaxed);
        M.realloc(p, l, n)
    }
}
#[global_allocator]
static G: Counting = Counting;

struct NoWake;
impl rsws::server::events::Waker for NoWake {
    fn wake(&self) {}
}

fn rss_kib() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let child_script =
        std::env::var("CHILD").unwrap_or(format!("{root}/__test__/fixtures/raw-subscribers.js"));
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(10000);
    let idle: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let app = rsws::server::app::AppCore::new(Box::new(NoWake), Arc::new(Default::default()));
    let mut b = rsws::server::app::Behavior::default();
    b.idle_timeout = (idle > 0).then(|| std::time::Duration::from_secs(idle));
    app.add_route("/*", b);
    let l = rsws::server::listener::listen(&app, Some("127.0.0.1"), 0, false).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (r0, live0) = (rss_kib(), LIVE.load(Relaxed));
    let h0: Vec<isize> = HIST.iter().map(|h| h.load(Relaxed)).collect();
    let mut child = std::process::Command::new("node")
        .args([&child_script, &l.port.to_string(), &n.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (r1, live1) = (rss_kib(), LIVE.load(Relaxed));
    println!(
        "rss/conn {} B, live heap/conn {} B",
        (r1 - r0) * 1024 / n as i64,
        (live1 - live0) / n as isize
    );
    for (i, h) in HIST.iter().enumerate() {
        let d = h.load(Relaxed) - h0[i];
        if d.abs() as usize >= n / 20 {
            println!(
                "  size {}..{}: {:+} ({:.2}/conn)",
                i * 16,
                i * 16 + 15,
                d,
                d as f64 / n as f64
            );
        }
    }
    let _ = child.kill();
}
