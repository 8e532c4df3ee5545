//! SNI: exact names, wildcards, removal, the missing-name hook.

use super::*;
use crate::server::tls::{normalize_name, TlsError, TlsOptions, TlsServer};
use std::sync::Weak;
use std::time::Duration;

struct Sites {
    ca: Ca,
    default: Leaf,
    tls: Arc<TlsServer>,
}

fn sites() -> Sites {
    let ca = Ca::new("test CA");
    let default = ca.server(&["default.test"]);
    let tls = Arc::new(TlsServer::new(&default.options()).unwrap());
    Sites { ca, default, tls }
}

#[tokio::test]
async fn sni_picks_the_certificate_of_the_name() {
    let s = sites();
    let a = s.ca.server(&["a.example.com"]);
    let b = s.ca.server(&["b.example.com"]);
    s.tls
        .add_server_name("a.example.com", &a.options())
        .unwrap();
    s.tls
        .add_server_name("B.Example.COM.", &b.options())
        .unwrap();

    assert_eq!(served_cert(&s.tls, "a.example.com").await, a.cert_der);
    assert_eq!(served_cert(&s.tls, "b.example.com").await, b.cert_der);
    assert_eq!(
        served_cert(&s.tls, "c.example.com").await,
        s.default.cert_der
    );

    // And with full verification by the client.
    let (client, _) = connect(&s.tls, &Client::trusting(&s.ca), "a.example.com").await;
    assert_eq!(client.unwrap().server_cert, a.cert_der);
}

#[tokio::test]
async fn wildcard_matches_one_label() {
    let s = sites();
    let wild = s.ca.server(&["*.wild.test"]);
    let exact = s.ca.server(&["www.wild.test"]);
    s.tls
        .add_server_name("*.wild.test", &wild.options())
        .unwrap();

    assert_eq!(served_cert(&s.tls, "x.wild.test").await, wild.cert_der);
    assert_eq!(served_cert(&s.tls, "wild.test").await, s.default.cert_der);
    assert_eq!(
        served_cert(&s.tls, "a.b.wild.test").await,
        s.default.cert_der
    );

    // An exact name wins over the wildcard.
    s.tls
        .add_server_name("www.wild.test", &exact.options())
        .unwrap();
    assert_eq!(served_cert(&s.tls, "www.wild.test").await, exact.cert_der);
    assert_eq!(served_cert(&s.tls, "other.wild.test").await, wild.cert_der);

    let (client, _) = connect(&s.tls, &Client::trusting(&s.ca), "x.wild.test").await;
    assert_eq!(client.unwrap().server_cert, wild.cert_der);
}

#[tokio::test]
async fn remove_server_name_falls_back_to_default() {
    let s = sites();
    let a = s.ca.server(&["a.example.com"]);
    let wild = s.ca.server(&["*.example.com"]);
    s.tls
        .add_server_name("a.example.com", &a.options())
        .unwrap();
    s.tls
        .add_server_name("*.example.com", &wild.options())
        .unwrap();
    assert_eq!(served_cert(&s.tls, "a.example.com").await, a.cert_der);

    assert!(s.tls.remove_server_name("A.example.com"));
    assert!(!s.tls.remove_server_name("a.example.com"));
    assert_eq!(served_cert(&s.tls, "a.example.com").await, wild.cert_der);

    assert!(s.tls.remove_server_name("*.example.com"));
    assert_eq!(
        served_cert(&s.tls, "a.example.com").await,
        s.default.cert_der
    );
    assert!(s.tls.resolver().is_empty());
}

#[tokio::test]
async fn no_default_certificate_serves_only_added_names() {
    let ca = Ca::new("test CA");
    let tls = Arc::new(TlsServer::new(&TlsOptions::default()).unwrap());
    let a = ca.server(&["a.example.com"]);
    tls.add_server_name("a.example.com", &a.options()).unwrap();
    assert_eq!(served_cert(&tls, "a.example.com").await, a.cert_der);
    let (client, srv) = connect(&tls, &Client::any(), "unknown.test").await;
    assert!(client.is_err());
    assert!(srv.is_err());
}

type Prepared = Arc<std::sync::Mutex<std::collections::HashMap<String, TlsOptions>>>;

/// A hook that counts its calls and, after `delay`, adds the certificate prepared for the
/// name it is asked about (if any), as a JS `missingServerName` callback would.
fn adding_hook(s: &Sites, delay: Duration) -> (Arc<AtomicUsize>, Prepared) {
    let calls = Arc::new(AtomicUsize::new(0));
    let prepared = Prepared::default();
    let counter = calls.clone();
    let certs = prepared.clone();
    let weak: Weak<TlsServer> = Arc::downgrade(&s.tls);
    s.tls.on_missing_server_name(move |name: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        let weak = weak.clone();
        let options = certs.lock().unwrap().get(&name).cloned();
        async move {
            tokio::time::sleep(delay).await;
            if let (Some(tls), Some(options)) = (weak.upgrade(), options) {
                tls.add_server_name(&name, &options).unwrap();
            }
        }
    });
    (calls, prepared)
}

fn prepare(prepared: &Prepared, name: &str, leaf: &Leaf) {
    prepared
        .lock()
        .unwrap()
        .insert(name.to_owned(), leaf.options());
}

#[tokio::test]
async fn missing_name_hook_adds_certificate_used_by_the_same_handshake() {
    let s = sites();
    let (calls, prepared) = adding_hook(&s, Duration::from_millis(20));
    let late = s.ca.server(&["late.test"]);
    prepare(&prepared, "late.test", &late);

    assert_eq!(served_cert(&s.tls, "late.test").await, late.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Known now: no further call.
    assert_eq!(served_cert(&s.tls, "late.test").await, late.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A name the hook does not add: default certificate, and asked again next time.
    assert_eq!(served_cert(&s.tls, "nobody.test").await, s.default.cert_der);
    assert_eq!(served_cert(&s.tls, "nobody.test").await, s.default.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Names covered by a wildcard are not missing.
    let wild = s.ca.server(&["*.w.test"]);
    s.tls.add_server_name("*.w.test", &wild.options()).unwrap();
    assert_eq!(served_cert(&s.tls, "x.w.test").await, wild.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn concurrent_handshakes_for_one_missing_name_share_one_hook_call() {
    let s = sites();
    let (calls, prepared) = adding_hook(&s, Duration::from_millis(200));
    let late = s.ca.server(&["busy.test"]);
    prepare(&prepared, "busy.test", &late);
    let handshakes: Vec<_> = (0..5)
        .map(|_| {
            let tls = s.tls.clone();
            async move { served_cert(&tls, "busy.test").await }
        })
        .collect();
    for cert in join_spawned(handshakes).await {
        assert_eq!(cert, late.cert_der);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

async fn join_spawned<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn missing_name_hook_that_never_answers_times_out() {
    let s = sites();
    s.tls
        .set_missing_server_name_timeout(Duration::from_millis(100));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    s.tls.on_missing_server_name(move |_name| {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>()
    });
    let started = std::time::Instant::now();
    assert_eq!(served_cert(&s.tls, "slow.test").await, s.default.cert_der);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The abandoned call does not block the next handshake from asking.
    assert_eq!(served_cert(&s.tls, "slow.test").await, s.default.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn hook_is_not_called_without_sni_or_for_known_names() {
    let s = sites();
    let (calls, _) = adding_hook(&s, Duration::ZERO);
    let a = s.ca.server(&["a.example.com"]);
    s.tls
        .add_server_name("a.example.com", &a.options())
        .unwrap();
    served_cert(&s.tls, "a.example.com").await;
    // An IP address as the server name: rustls clients send no SNI then.
    let (client, _) = connect(&s.tls, &Client::any(), "127.0.0.1").await;
    assert_eq!(client.unwrap().server_cert, s.default.cert_der);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn server_names_are_validated_and_normalized() {
    assert_eq!(
        normalize_name("Example.COM.", false).unwrap(),
        "example.com"
    );
    assert_eq!(
        normalize_name("*.Example.com", true).unwrap(),
        "*.example.com"
    );
    for (bad, wildcard_ok) in [
        ("", true),
        ("*", true),
        ("*.", true),
        ("a.*.example.com", true),
        ("*.example.com", false),
        ("exa mple.com", true),
        ("127.0.0.1", true),
        ("foo*.example.com", true),
    ] {
        let err = normalize_name(bad, wildcard_ok).unwrap_err();
        assert!(matches!(err, TlsError::ServerName { .. }), "{bad}: {err}");
    }
    let s = sites();
    let a = s.ca.server(&["a.example.com"]);
    let err = s
        .tls
        .add_server_name("not a name", &a.options())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid server name \"not a name\""),
        "{err}"
    );
}
