use super::request::{asks_for_websocket, encode, upgrade_request};
use super::*;
use crate::protocol::handshake::HandshakeError;
use crate::protocol::http1::{RequestHead, RequestParser};
use crate::server::app::AppCore;
use crate::server::events::{kind, Waker};
use crate::server::publish::PubSub;
use crate::server::record::HEADER_LEN;
use crate::server::stream::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn head(text: &str) -> RequestHead {
    RequestParser::new()
        .parse_head(text.as_bytes())
        .expect("valid head")
        .expect("complete head")
        .0
}

/// Routes only: no connection ever uses the event queue.
fn http_state() -> HttpState {
    HttpState::new(Arc::new(crate::server::events::EventQueue::new(Box::new(
        NoWake,
    ))))
}

#[test]
fn method_routes_come_before_any_routes_each_most_specific_first() {
    let http = http_state();
    let any_all = http.add_route(None, "/*");
    let get_param = http.add_route(Some("GET"), "/a/:x");
    let any_static = http.add_route(None, "/a/b");
    let get_static = http.add_route(Some("GET"), "/a/b");
    let post = http.add_route(Some("POST"), "/a/b");
    let order = |method, path| -> Vec<usize> {
        http.candidates(method, path)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    };
    assert_eq!(
        order("GET", "/a/b"),
        vec![get_static, get_param, any_static, any_all]
    );
    assert_eq!(order("POST", "/a/b"), vec![post, any_static, any_all]);
    assert_eq!(order("PUT", "/a/c"), vec![any_all]);
    // Methods are case-sensitive, as HTTP says.
    assert_eq!(order("get", "/a/b"), vec![any_static, any_all]);
    assert_eq!(http.candidates("GET", "/a/q")[0].1, vec!["q".to_string()]);
}

#[test]
fn no_routes_no_candidates() {
    assert!(http_state().candidates("GET", "/").is_empty());
}

const UPGRADE: &str = "GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n";

#[test]
fn upgrade_requests_are_checked_as_the_handshake_does() {
    let req = upgrade_request(&head(UPGRADE)).unwrap();
    assert_eq!(req.url, "/chat");
    assert_eq!(req.query, "x=1");
    assert_eq!(req.key, "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(req.protocols, "a, b");
    assert_eq!(req.header("host"), Some("h"));
    assert!(asks_for_websocket(&head(UPGRADE)));

    let with = |from: &str, to: &str| head(&UPGRADE.replace(from, to));
    assert_eq!(
        upgrade_request(&with("GET", "POST")).unwrap_err(),
        HandshakeError::MethodNotAllowed
    );
    assert!(matches!(
        upgrade_request(&with("HTTP/1.1", "HTTP/1.0")),
        Err(HandshakeError::BadRequest(_))
    ));
    assert_eq!(
        upgrade_request(&with("Version: 13", "Version: 8")).unwrap_err(),
        HandshakeError::UpgradeRequired
    );
    assert!(matches!(
        upgrade_request(&with("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=")),
        Err(HandshakeError::BadRequest(_))
    ));
    assert!(matches!(
        upgrade_request(&with("keep-alive, Upgrade", "keep-alive")),
        Err(HandshakeError::BadRequest(_))
    ));
    let plain = with("Upgrade: websocket", "Upgrade: h2c");
    assert!(!asks_for_websocket(&plain));
    assert!(upgrade_request(&plain).is_err());
}

#[test]
fn request_record_layout() {
    let h = head("POST /u/7?q=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\nContent-Length: 2\r\n\r\n");
    let peer: std::net::SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let out = encode(&h, &[(3, vec!["7".into()])], 0x01020304, peer);
    let mut expected = vec![4, 3, 2, 1, 1, 3, 0, 1, 1, 0, b'7'];
    for s in ["POST", "/u/7", "q=1"] {
        expected.extend_from_slice(&(s.len() as u16).to_le_bytes());
        expected.extend_from_slice(s.as_bytes());
    }
    expected.extend_from_slice(&3u16.to_le_bytes());
    for s in ["host", "h", "x-a", "b", "content-length", "2"] {
        expected.extend_from_slice(&(s.len() as u16).to_le_bytes());
        expected.extend_from_slice(s.as_bytes());
    }
    expected.extend_from_slice(&crate::server::app::address_bytes(peer));
    assert_eq!(out, expected);
}

// A connection task driven without JS: events are taken from the queue, answers are
// records as lib/http.js packs them.

struct NoWake;
impl Waker for NoWake {
    fn wake(&self) {}
}

struct Event {
    id: u32,
    kind: u8,
    flags: u8,
    payload: Vec<u8>,
}

fn events(app: &AppCore) -> Vec<Event> {
    let batch = app.events.take();
    crate::server::record::records(&batch.records)
        .map(|r| Event {
            id: r.id,
            kind: r.op,
            flags: r.flags,
            payload: r.payload.to_vec(),
        })
        .collect()
}

async fn next_events(app: &AppCore) -> Vec<Event> {
    for _ in 0..500 {
        let got = events(app);
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("no events");
}

fn record(out: &mut Vec<u8>, slot: u32, op: u8, flags: u8, serial: u32, data: &[u8]) {
    out.extend_from_slice(&slot.to_le_bytes());
    out.push(op);
    out.push(flags);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&((4 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(data);
    assert!(out.len() >= HEADER_LEN);
}

fn serial_of(e: &Event) -> u32 {
    u32::from_le_bytes(e.payload[..4].try_into().unwrap())
}

async fn read_until(client: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut buf))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_and_bodies_stream() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = AppCore::new(Box::new(NoWake), Arc::new(PubSub::default()));
        app.http.add_route(Some("GET"), "/a");
        app.http.add_route(Some("POST"), "/b");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let task_app = app.clone();
        tokio::spawn(async move {
            crate::server::connection::serve(task_app, Stream::from(stream), peer).await
        });
        client
            .write_all(
                b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\n\
                  Content-Length: 5\r\n\r\nhelloGET /none HTTP/1.1\r\nHost: h\r\n\r\n",
            )
            .await
            .unwrap();

        // Only the first request reaches JS until it is answered.
        let first = next_events(&app).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].kind, kind::HTTP_REQUEST);
        let slot = first[0].id;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            events(&app).is_empty(),
            "second request before the first answer"
        );

        let mut answer = Vec::new();
        record(
            &mut answer,
            slot,
            op::STATUS,
            0,
            serial_of(&first[0]),
            b"201 Created",
        );
        record(&mut answer, slot, op::END, 0, serial_of(&first[0]), b"one");
        // A late answer for a request that is not current is ignored.
        record(&mut answer, slot, op::END, 0, 12345, b"stale");
        dispatch(&app, &answer);

        let second = next_events(&app).await;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].kind, kind::HTTP_REQUEST);
        assert_eq!(second[0].flags & request::flag::HAS_BODY, 1);
        let serial = serial_of(&second[0]);
        let mut answer = Vec::new();
        record(&mut answer, slot, op::BODY, 1, serial, b"");
        dispatch(&app, &answer);
        let data = next_events(&app).await;
        assert_eq!(data[0].kind, kind::HTTP_DATA);
        assert_eq!(data[0].payload, b"hello");
        assert_eq!(data[0].flags & 1, 1, "last chunk");
        let mut answer = Vec::new();
        record(&mut answer, slot, op::WRITE, 0, serial, b"tw");
        record(&mut answer, slot, op::END, 0, serial, b"o");
        dispatch(&app, &answer);

        let mut seen = Vec::new();
        read_until(&mut client, &mut seen, b"404 Not Found").await;
        read_until(&mut client, &mut seen, b"\r\n\r\nNot Found").await;
        let text = String::from_utf8_lossy(&seen).to_string();
        let one = text.find("HTTP/1.1 201 Created\r\n").unwrap();
        let two = text.find("Transfer-Encoding: chunked\r\n\r\n2\r\ntw\r\n1\r\no\r\n0\r\n\r\n");
        let three = text.find("HTTP/1.1 404 Not Found\r\n").unwrap();
        assert!(
            one < two.expect("chunked response") && two.unwrap() < three,
            "{text}"
        );
        assert!(!text.contains("stale"));
        assert!(text.contains("Content-Length: 3\r\n\r\none"));
    });
}

#[test]
fn an_aborted_request_is_reported_once_and_its_slot_freed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = AppCore::new(Box::new(NoWake), Arc::new(PubSub::default()));
        app.http.add_route(None, "/*");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let task_app = app.clone();
        let task = tokio::spawn(async move {
            crate::server::connection::serve(task_app, Stream::from(stream), peer).await
        });
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        let req = next_events(&app).await;
        let (slot, serial) = (req[0].id, serial_of(&req[0]));
        drop(client);
        let aborted = next_events(&app).await;
        assert_eq!(aborted.len(), 1);
        assert_eq!(aborted[0].kind, kind::HTTP_ABORTED);
        assert_eq!(serial_of(&aborted[0]), serial);
        task.await.unwrap();
        assert!(app.http.lock_slots().get(slot).is_none());
        // Answering now is harmless.
        let mut answer = Vec::new();
        record(&mut answer, slot, op::END, 0, serial, b"late");
        dispatch(&app, &answer);
    });
}

/// An idle keep-alive connection holds this boxed future (plus its HttpConn): keep it
/// moderate.
#[test]
fn http_phase_future_is_moderate() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let app = AppCore::new(Box::new(NoWake), Arc::new(PubSub::default()));
        let task = task::Task::new(&app, Stream::from(stream), peer).run();
        let size = std::mem::size_of_val(&task);
        let conn = std::mem::size_of::<HttpConn>();
        println!("HTTP phase future: {size} bytes, HttpConn: {conn} bytes");
        assert!(size < 1536, "HTTP phase future is {size} bytes");
    });
}
