//! Handshakes: basic, ALPN, client certificates, ciphers, reload, low-memory mode.

use super::*;
use crate::server::tls::{build_server_config, ClientAuth, TlsOptions, TlsServer};
use rustls::{CipherSuite, ProtocolVersion};

fn server(options: &TlsOptions) -> Arc<TlsServer> {
    Arc::new(TlsServer::new(options).unwrap())
}

#[tokio::test]
async fn handshake_with_files_and_verifying_client() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        cert_file_name: Some(dir.write("cert.pem", &leaf.cert_pem)),
        key_file_name: Some(dir.write("key.pem", &leaf.key_pem)),
        ..TlsOptions::default()
    };
    let (client, srv) = connect(&server(&options), &Client::trusting(&ca), "localhost").await;
    let client = client.unwrap();
    assert_eq!(client.server_cert, leaf.cert_der);
    assert_eq!(client.version, ProtocolVersion::TLSv1_3);
    assert_eq!(srv.unwrap().client_certs, 0);
}

#[tokio::test]
async fn handshake_with_in_memory_pem_and_chain() {
    // cert = leaf followed by the CA: the whole chain is sent.
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let options = TlsOptions {
        cert_pem: Some(format!("{}{}", leaf.cert_pem, ca.pem()).into_bytes()),
        key_pem: Some(leaf.key_pem.clone().into_bytes()),
        ..TlsOptions::default()
    };
    let tls = server(&options);
    assert_eq!(tls.resolver().default_key().unwrap().cert.len(), 2);
    let (client, srv) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().server_cert, leaf.cert_der);
    srv.unwrap();
}

#[tokio::test]
async fn client_rejects_certificate_for_another_name() {
    let ca = Ca::new("test CA");
    let options = ca.server(&["other.test"]).options();
    let (client, _) = connect(&server(&options), &Client::trusting(&ca), "localhost").await;
    assert!(client.is_err());
}

#[tokio::test]
async fn alpn_http11_negotiated() {
    let ca = Ca::new("test CA");
    let tls = server(&ca.server(&["localhost"]).options());

    let mut offer = Client::trusting(&ca);
    offer.alpn = vec![b"h2", b"http/1.1"];
    let (client, srv) = connect(&tls, &offer, "localhost").await;
    assert_eq!(client.unwrap().alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(srv.unwrap().alpn.as_deref(), Some(&b"http/1.1"[..]));

    // No ALPN offered: served, nothing negotiated.
    let mut none = Client::trusting(&ca);
    none.alpn = vec![];
    let (client, srv) = connect(&tls, &none, "localhost").await;
    assert_eq!(client.unwrap().alpn, None);
    assert_eq!(srv.unwrap().alpn, None);

    // Only protocols we do not speak: refused (RFC 7301 no_application_protocol).
    let mut h2 = Client::trusting(&ca);
    h2.alpn = vec![b"h2"];
    let (client, srv) = connect(&tls, &h2, "localhost").await;
    assert!(client.is_err());
    assert!(srv.is_err());
}

fn mtls_options(ca: &Ca, server_leaf: &Leaf, auth: ClientAuth) -> TlsOptions {
    TlsOptions {
        ca_pem: Some(ca.pem().into_bytes()),
        client_auth: auth,
        ..server_leaf.options()
    }
}

#[tokio::test]
async fn client_certificate_required_with_ca() {
    let ca = Ca::new("test CA");
    let other_ca = Ca::new("other CA");
    let leaf = ca.server(&["localhost"]);
    let tls = server(&mtls_options(&ca, &leaf, ClientAuth::Required));

    let good = Client::trusting(&ca).with_identity(&ca.client("alice"));
    let (client, srv) = connect(&tls, &good, "localhost").await;
    client.unwrap();
    assert_eq!(srv.unwrap().client_certs, 1);

    let (client, srv) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert!(client.is_err(), "no client certificate must be refused");
    let err = srv.unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");

    let stranger = Client::trusting(&ca).with_identity(&other_ca.client("mallory"));
    let (client, srv) = connect(&tls, &stranger, "localhost").await;
    assert!(client.is_err());
    assert!(srv.is_err(), "certificate from another CA must be refused");
}

#[tokio::test]
async fn client_certificate_optional_like_uws() {
    let ca = Ca::new("test CA");
    let other_ca = Ca::new("other CA");
    let leaf = ca.server(&["localhost"]);
    let tls = server(&mtls_options(&ca, &leaf, ClientAuth::Optional));

    let (client, srv) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    client.unwrap();
    assert_eq!(srv.unwrap().client_certs, 0);

    let good = Client::trusting(&ca).with_identity(&ca.client("alice"));
    let (_, srv) = connect(&tls, &good, "localhost").await;
    assert_eq!(srv.unwrap().client_certs, 1);

    // Presented but not from the CA: still refused.
    let stranger = Client::trusting(&ca).with_identity(&other_ca.client("mallory"));
    let (_, srv) = connect(&tls, &stranger, "localhost").await;
    assert!(srv.is_err());
}

#[tokio::test]
async fn ca_from_file() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        ca_file_name: Some(dir.write("ca.pem", ca.pem())),
        ..leaf.options()
    };
    let tls = server(&options);
    let (_, srv) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert!(srv.is_err());
    let good = Client::trusting(&ca).with_identity(&ca.client("alice"));
    let (_, srv) = connect(&tls, &good, "localhost").await;
    assert_eq!(srv.unwrap().client_certs, 1);
}

#[tokio::test]
async fn ssl_ciphers_restrict_the_negotiated_suite() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);

    let options = TlsOptions {
        ssl_ciphers: Some("TLS_CHACHA20_POLY1305_SHA256".into()),
        ..leaf.options()
    };
    let (client, _) = connect(&server(&options), &Client::trusting(&ca), "localhost").await;
    let client = client.unwrap();
    assert_eq!(client.suite, CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);

    // Only a TLS 1.2 suite left: TLS 1.2 is negotiated.
    let options = TlsOptions {
        ssl_ciphers: Some(
            "ECDHE-ECDSA-AES256-GCM-SHA384:-TLS_AES_128_GCM_SHA256:\
             -TLS_AES_256_GCM_SHA384:-TLS_CHACHA20_POLY1305_SHA256"
                .into(),
        ),
        ..leaf.options()
    };
    let (client, _) = connect(&server(&options), &Client::trusting(&ca), "localhost").await;
    let client = client.unwrap();
    assert_eq!(client.version, ProtocolVersion::TLSv1_2);
    assert_eq!(
        client.suite,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

#[tokio::test]
async fn rsa_key_over_tls12_and_tls13() {
    let ca = Ca::new("test CA");
    let tls = server(&ca.server_rsa(&["localhost"]).options());
    let (client, _) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().version, ProtocolVersion::TLSv1_3);
    let mut tls12 = Client::trusting(&ca);
    tls12.versions = vec![&rustls::version::TLS12];
    let (client, _) = connect(&tls, &tls12, "localhost").await;
    let client = client.unwrap();
    assert_eq!(client.version, ProtocolVersion::TLSv1_2);
    assert_eq!(
        client.suite,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    );
}

#[tokio::test]
async fn reload_swaps_the_default_certificate() {
    let ca = Ca::new("test CA");
    let first = ca.server(&["localhost"]);
    let second = ca.server(&["localhost"]);
    let tls = server(&first.options());
    assert_eq!(served_cert(&tls, "localhost").await, first.cert_der);

    tls.reload(&second.options()).unwrap();
    assert_eq!(served_cert(&tls, "localhost").await, second.cert_der);

    // A failing reload changes nothing.
    let broken = TlsOptions {
        key_pem: Some(b"nothing here".to_vec()),
        ..second.options()
    };
    assert!(tls.reload(&broken).is_err());
    assert_eq!(served_cert(&tls, "localhost").await, second.cert_der);
}

#[tokio::test]
async fn reload_from_rewritten_files() {
    let ca = Ca::new("test CA");
    let first = ca.server(&["localhost"]);
    let second = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        cert_file_name: Some(dir.write("cert.pem", &first.cert_pem)),
        key_file_name: Some(dir.write("key.pem", &first.key_pem)),
        ..TlsOptions::default()
    };
    let tls = server(&options);
    assert_eq!(served_cert(&tls, "localhost").await, first.cert_der);
    dir.write("cert.pem", &second.cert_pem);
    dir.write("key.pem", &second.key_pem);
    tls.reload(&options).unwrap();
    assert_eq!(served_cert(&tls, "localhost").await, second.cert_der);
}

#[tokio::test]
async fn low_memory_mode_serves_and_moves_data() {
    let ca = Ca::new("test CA");
    let options = TlsOptions {
        ssl_prefer_low_memory_usage: true,
        ..ca.server(&["localhost"]).options()
    };
    let tls = server(&options);
    assert!(tls.config().ticketer.enabled(), "stateless tickets");
    let (client, srv) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    client.unwrap();
    srv.unwrap();

    // A write larger than the reduced send buffer still goes through whole.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let expected = payload.clone();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(tcp).await.unwrap();
        stream.write_all(&payload).await.unwrap();
        stream.shutdown().await.unwrap();
    });
    let connector = tokio_rustls::TlsConnector::from(Client::trusting(&ca).config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, expected);
    srv.await.unwrap();
}

#[tokio::test]
async fn build_server_config_works_with_a_plain_acceptor() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let config = build_server_config(&leaf.options()).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = acceptor.accept(tcp).await.unwrap();
        stream.write_all(b"hi").await.unwrap();
        stream.shutdown().await.unwrap();
    });
    let connector = tokio_rustls::TlsConnector::from(Client::trusting(&ca).config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hi");
    assert_eq!(
        stream.get_ref().1.peer_certificates().unwrap()[0],
        leaf.cert_der
    );
    srv.await.unwrap();
}
