//! Loading keys and certificates: formats, passphrases, and the errors for bad input.

use super::*;
use crate::server::tls::{load_certified_key, TlsError, TlsOptions, TlsServer};
use pkcs8::pkcs5::pbes2;

fn err(options: &TlsOptions) -> TlsError {
    match load_certified_key(options) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// `der` (PKCS#8) encrypted with `passphrase` (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) as
/// PEM, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it.
fn encrypt_pkcs8(der: &[u8], passphrase: &[u8]) -> String {
    let info = pkcs8::PrivateKeyInfoRef::try_from(der).unwrap();
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let iv: [u8; 16] = std::array::from_fn(|i| 255 - i as u8);
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &salt, iv).unwrap();
    let encrypted = info.encrypt_with_params(params, passphrase).unwrap();
    pem_encode("ENCRYPTED PRIVATE KEY", encrypted.as_bytes())
}

/// The key inside a PKCS#8 structure: PKCS#1 for RSA, SEC1 for EC.
fn inner_key(pkcs8_der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der).unwrap();
    info.private_key.as_bytes().to_vec()
}

fn pkcs8_der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[tokio::test]
async fn pkcs1_rsa_key() {
    let ca = Ca::new("test CA");
    let leaf = ca.server_rsa(&["localhost"]);
    let pkcs1 = pem_encode("RSA PRIVATE KEY", &inner_key(&pkcs8_der_of(RSA_TEST_KEY)));
    let options = TlsOptions {
        key_pem: Some(pkcs1.into_bytes()),
        ..leaf.options()
    };
    let tls = Arc::new(TlsServer::new(&options).unwrap());
    let (client, _) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().server_cert, leaf.cert_der);
}

#[tokio::test]
async fn sec1_ec_key() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let sec1 = pem_encode("EC PRIVATE KEY", &inner_key(&leaf.key_pkcs8_der));
    let options = TlsOptions {
        key_pem: Some(sec1.into_bytes()),
        ..leaf.options()
    };
    let tls = Arc::new(TlsServer::new(&options).unwrap());
    let (client, _) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().server_cert, leaf.cert_der);
}

#[tokio::test]
async fn encrypted_pkcs8_with_passphrase() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let key_path = dir.write(
        "key.pem",
        encrypt_pkcs8(&leaf.key_pkcs8_der, b"correct horse"),
    );
    let options = TlsOptions {
        key_file_name: Some(key_path.clone()),
        cert_pem: Some(leaf.cert_pem.clone().into_bytes()),
        passphrase: Some(b"correct horse".to_vec()),
        ..TlsOptions::default()
    };
    let tls = Arc::new(TlsServer::new(&options).unwrap());
    let (client, _) = connect(&tls, &Client::trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().server_cert, leaf.cert_der);

    let wrong = TlsOptions {
        passphrase: Some(b"battery staple".to_vec()),
        ..options.clone()
    };
    let e = err(&wrong);
    assert!(matches!(e, TlsError::WrongPassphrase { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot decrypt the private key in key_file_name {:?}: wrong passphrase",
            key_path.display()
        )
    );

    let missing = TlsOptions {
        passphrase: None,
        ..options
    };
    let e = err(&missing);
    assert!(matches!(e, TlsError::PassphraseRequired { .. }), "{e}");
    assert!(
        e.to_string().contains("is encrypted but no passphrase"),
        "{e}"
    );
}

/// An `ENCRYPTED PRIVATE KEY` block whose plaintext is `plain` (not necessarily a key).
fn encrypted_block(plain: &[u8], passphrase: &[u8]) -> String {
    use pkcs8::der::Encode;
    let params =
        pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &[9; 16], [3; 16]).unwrap();
    let ciphertext = params.encrypt(passphrase, plain).unwrap();
    let info = pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&ciphertext).unwrap(),
    };
    pem_encode("ENCRYPTED PRIVATE KEY", &info.to_der().unwrap())
}

#[test]
fn decrypted_garbage_counts_as_wrong_passphrase() {
    // About once in 256 wrong passphrases the CBC padding still checks out and decryption
    // "succeeds" with noise. Reproduce both shapes of noise with the right passphrase:
    // bytes that are not DER at all, and DER that is not a PKCS#8 key.
    let ca = Ca::new("test CA");
    for plain in [
        &b"\xff\x00 not DER at all"[..],
        &[0x30, 0x03, 0x02, 0x01, 0x05],
    ] {
        let options = TlsOptions {
            key_pem: Some(encrypted_block(plain, b"pw").into_bytes()),
            passphrase: Some(b"pw".to_vec()),
            ..leaf_options(&ca)
        };
        let e = err(&options);
        assert!(matches!(e, TlsError::WrongPassphrase { .. }), "{e}");
    }
}

/// Interop with keys encrypted by the OpenSSL command line, when it is installed.
#[test]
fn encrypted_key_from_openssl_cli() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let plain = dir.write("plain.pem", &leaf.key_pem);
    let out = dir.path("enc.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
        ])
        .arg("-in")
        .arg(&plain)
        .arg("-out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("openssl CLI not available: skipping the interop check");
            return;
        }
    }
    let options = TlsOptions {
        key_file_name: Some(out),
        passphrase: Some(b"s3cret".to_vec()),
        cert_pem: Some(leaf.cert_pem.clone().into_bytes()),
        ..TlsOptions::default()
    };
    let key = load_certified_key(&options).unwrap();
    assert_eq!(key.cert[0], leaf.cert_der);
}

#[test]
fn unencrypted_key_ignores_passphrase() {
    let ca = Ca::new("test CA");
    let options = TlsOptions {
        passphrase: Some(b"unused".to_vec()),
        ..ca.server(&["localhost"]).options()
    };
    load_certified_key(&options).unwrap();
}

#[test]
fn combined_pem_with_key_and_certificate() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let both = dir.write(
        "both.pem",
        format!("some text\n{}\n{}", leaf.key_pem, leaf.cert_pem),
    );
    let options = TlsOptions {
        key_file_name: Some(both.clone()),
        cert_file_name: Some(both),
        ..TlsOptions::default()
    };
    assert_eq!(load_certified_key(&options).unwrap().cert.len(), 1);
}

#[test]
fn crlf_line_endings() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let options = TlsOptions {
        cert_pem: Some(leaf.cert_pem.replace('\n', "\r\n").into_bytes()),
        key_pem: Some(leaf.key_pem.replace('\n', "\r\n").into_bytes()),
        ..TlsOptions::default()
    };
    load_certified_key(&options).unwrap();
}

#[test]
fn missing_file_names_the_path() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        cert_file_name: Some(dir.path("nope/cert.pem")),
        key_pem: Some(leaf.key_pem.into_bytes()),
        ..TlsOptions::default()
    };
    let e = err(&options);
    assert!(matches!(e, TlsError::Read { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with("cannot read cert_file_name \""), "{msg}");
    assert!(msg.contains("nope/cert.pem"), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
    // The same through TlsServer::new and for the CA file.
    let e = TlsServer::new(&TlsOptions {
        ca_file_name: Some(dir.path("ca.pem")),
        ..leaf_options(&ca)
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("cannot read ca_file_name"), "{e}");
}

fn leaf_options(ca: &Ca) -> TlsOptions {
    ca.server(&["localhost"]).options()
}

#[test]
fn no_certificate_in_pem() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        cert_file_name: Some(dir.write("cert.pem", &leaf.key_pem)),
        ..leaf.options()
    };
    let options = TlsOptions {
        cert_pem: None,
        ..options
    };
    let e = err(&options);
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("no certificate found in cert_file_name \""),
        "{e}"
    );

    // Not PEM at all (DER bytes).
    let options = TlsOptions {
        cert_pem: Some(leaf.cert_der.to_vec()),
        ..leaf.options()
    };
    let e = err(&options);
    assert_eq!(
        e.to_string(),
        "no certificate found in cert (in-memory PEM) \
         (expected a PEM block \"-----BEGIN CERTIFICATE-----\")"
    );
}

#[test]
fn no_private_key_in_pem() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let options = TlsOptions {
        key_pem: Some(leaf.cert_pem.clone().into_bytes()),
        ..leaf.options()
    };
    let e = err(&options);
    assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("no private key found in key (in-memory PEM)"),
        "{e}"
    );
}

#[test]
fn key_does_not_match_certificate() {
    let ca = Ca::new("test CA");
    let a = ca.server(&["localhost"]);
    let b = ca.server(&["localhost"]);
    let dir = TempDir::new();
    let options = TlsOptions {
        cert_file_name: Some(dir.write("a.crt", &a.cert_pem)),
        key_file_name: Some(dir.write("b.key", &b.key_pem)),
        ..TlsOptions::default()
    };
    let e = err(&options);
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("the private key in key_file_name \""),
        "{msg}"
    );
    assert!(
        msg.contains("b.key\" does not match the certificate in cert_file_name"),
        "{msg}"
    );

    // RSA key with an EC certificate.
    let rsa = TlsOptions {
        key_pem: Some(RSA_TEST_KEY.as_bytes().to_vec()),
        ..a.options()
    };
    assert!(matches!(err(&rsa), TlsError::KeyMismatch { .. }));
}

#[test]
fn malformed_pem() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let truncated: String = leaf.cert_pem.lines().take(3).collect::<Vec<_>>().join("\n");
    let e = err(&TlsOptions {
        cert_pem: Some(truncated.into_bytes()),
        ..leaf.options()
    });
    assert!(matches!(e, TlsError::Pem { .. }), "{e}");
    assert!(e.to_string().contains("has no END line"), "{e}");

    let garbled = leaf.cert_pem.replacen("M", "!", 1);
    let e = err(&TlsOptions {
        cert_pem: Some(garbled.into_bytes()),
        ..leaf.options()
    });
    assert!(e.to_string().contains("not valid base64"), "{e}");

    let bad_der = pem_encode("CERTIFICATE", b"definitely not DER");
    let e = err(&TlsOptions {
        cert_pem: Some(bad_der.into_bytes()),
        ..leaf.options()
    });
    assert!(matches!(e, TlsError::BadCertificate { .. }), "{e}");
}

#[test]
fn legacy_encrypted_pem_is_explained() {
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\n\
                  Proc-Type: 4,ENCRYPTED\n\
                  DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\
                  \n\
                  AAAA\n\
                  -----END RSA PRIVATE KEY-----\n";
    let ca = Ca::new("test CA");
    let e = err(&TlsOptions {
        key_pem: Some(legacy.as_bytes().to_vec()),
        passphrase: Some(b"x".to_vec()),
        ..leaf_options(&ca)
    });
    assert!(matches!(e, TlsError::UnsupportedKey { .. }), "{e}");
    assert!(e.to_string().contains("openssl pkcs8 -topk8"), "{e}");
}

#[test]
fn missing_and_conflicting_options() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let e = err(&TlsOptions {
        key_pem: None,
        ..leaf.options()
    });
    assert_eq!(e.to_string(), "no private key: set key_file_name (or key)");
    let e = err(&TlsOptions {
        cert_pem: None,
        ..leaf.options()
    });
    assert_eq!(
        e.to_string(),
        "no certificate: set cert_file_name (or cert)"
    );
    // Only a key for the app: an error, not a silently certificate-less server.
    assert!(TlsServer::new(&TlsOptions {
        cert_pem: None,
        ..leaf.options()
    })
    .is_err());
    let e = err(&TlsOptions {
        cert_file_name: Some("/x.pem".into()),
        ..leaf.options()
    });
    assert_eq!(
        e.to_string(),
        "both cert_file_name and cert were given; use one of them"
    );
}

#[test]
fn ca_without_certificates_is_an_error() {
    let ca = Ca::new("test CA");
    let leaf = ca.server(&["localhost"]);
    let e = TlsServer::new(&TlsOptions {
        ca_pem: Some(leaf.key_pem.clone().into_bytes()),
        ..leaf.options()
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no certificate found in ca (in-memory PEM)"),
        "{e}"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let ca = Ca::new("test CA");
    let options = TlsOptions {
        passphrase: Some(b"hunter2".to_vec()),
        ..ca.server(&["localhost"]).options()
    };
    let shown = format!("{options:?}");
    assert!(!shown.contains("hunter2"));
    assert!(!shown.contains("PRIVATE KEY"));
    assert!(shown.contains("<redacted>"));
}
