//! Tests: certificates made at test time with rcgen, real handshakes over loopback TCP
//! between `TlsServer::accept` and a tokio-rustls client.

mod ciphers;
mod handshake;
mod load;
mod sni;

use super::{TlsOptions, TlsServer};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An RSA key for the PKCS#1 tests (ring cannot generate RSA keys). Test-only, not secret.
pub const RSA_TEST_KEY: &str = include_str!("../testdata/rsa2048-test-only.key");

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate with its key, as PEM and DER.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pem: String,
    pub key_pkcs8_der: Vec<u8>,
}

impl Leaf {
    /// In-memory options serving this certificate.
    pub fn options(&self) -> TlsOptions {
        TlsOptions {
            cert_pem: Some(self.cert_pem.clone().into_bytes()),
            key_pem: Some(self.key_pem.clone().into_bytes()),
            ..TlsOptions::default()
        }
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose, key: KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_pkcs8_der: key.serialize_der(),
        }
    }

    /// A server certificate (ECDSA P-256) for `names`.
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.issue(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyPair::generate().unwrap(),
        )
    }

    /// A server certificate for `names` on the RSA test key.
    pub fn server_rsa(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::from_pem(RSA_TEST_KEY).unwrap();
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, key)
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Leaf {
        self.issue(
            &[name],
            ExtendedKeyUsagePurpose::ClientAuth,
            KeyPair::generate().unwrap(),
        )
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "rsws-tls-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate (still checking handshake signatures): for tests that
/// look at which certificate the server chose rather than whether it is valid for the name.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How the test client is set up.
pub struct Client {
    pub trust: Option<CertificateDer<'static>>,
    pub identity: Option<(CertificateDer<'static>, Vec<u8>)>,
    pub alpn: Vec<&'static [u8]>,
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

impl Client {
    /// Verifies the server against `ca`, offers ALPN http/1.1.
    pub fn trusting(ca: &Ca) -> Client {
        Client {
            trust: Some(ca.der()),
            ..Client::any()
        }
    }

    /// Takes any server certificate.
    pub fn any() -> Client {
        Client {
            trust: None,
            identity: None,
            alpn: vec![b"http/1.1"],
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
        }
    }

    pub fn with_identity(mut self, leaf: &Leaf) -> Client {
        self.identity = Some((leaf.cert_der.clone(), leaf.key_pkcs8_der.clone()));
        self
    }

    fn config(&self) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&self.versions)
            .unwrap();
        let builder = match &self.trust {
            Some(root) => {
                let mut roots = RootCertStore::empty();
                roots.add(root.clone()).unwrap();
                builder.with_root_certificates(roots)
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider()))),
        };
        let mut config = match &self.identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key.clone().into()))
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// What the client saw of a successful handshake.
#[derive(Debug)]
pub struct ClientView {
    pub server_cert: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
    pub suite: rustls::CipherSuite,
    pub version: rustls::ProtocolVersion,
}

/// What the server saw.
#[derive(Debug)]
pub struct ServerView {
    pub alpn: Option<Vec<u8>>,
    pub client_certs: usize,
}

/// One connection: `TlsServer::accept` on one end, the client asking for `sni` on the
/// other, then a few bytes each way so both sides have finished the handshake.
pub async fn connect(
    server: &Arc<TlsServer>,
    client: &Client,
    sni: &str,
) -> (
    Result<ClientView, std::io::Error>,
    Result<ServerView, std::io::Error>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server.clone();
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(tcp).await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        stream.write_all(b"pong").await?;
        stream.flush().await?;
        let (_, conn) = stream.get_ref();
        let view = ServerView {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            client_certs: conn.peer_certificates().map_or(0, <[_]>::len),
        };
        stream.shutdown().await?;
        Ok::<_, std::io::Error>(view)
    });
    let connector = tokio_rustls::TlsConnector::from(client.config());
    let client_side = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let mut stream = connector.connect(name, tcp).await?;
        stream.write_all(b"ping").await?;
        stream.flush().await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"pong");
        let (_, conn) = stream.get_ref();
        Ok(ClientView {
            server_cert: conn.peer_certificates().unwrap()[0].clone(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            suite: conn.negotiated_cipher_suite().unwrap().suite(),
            version: conn.protocol_version().unwrap(),
        })
    };
    let limit = std::time::Duration::from_secs(20);
    let client_result = tokio::time::timeout(limit, client_side)
        .await
        .expect("client side hangs");
    let server_result = tokio::time::timeout(limit, server_side)
        .await
        .expect("server side hangs")
        .unwrap();
    (client_result, server_result)
}

/// `connect`, expecting success on both ends; the certificate the server presented.
pub async fn served_cert(server: &Arc<TlsServer>, sni: &str) -> CertificateDer<'static> {
    let (client, srv) = connect(server, &Client::any(), sni).await;
    srv.expect("server side");
    client.expect("client side").server_cert
}
