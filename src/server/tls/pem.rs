//! Reading PEM: certificate chains, CA bundles and private keys (PKCS#8, PKCS#1 RSA,
//! SEC1 EC, and passphrase-encrypted PKCS#8).
//!
//! A small scanner of our own rather than rustls-pki-types' `PemObject`, because we must
//! see what pki-types skips: `ENCRYPTED PRIVATE KEY` blocks and the `Proc-Type: 4,ENCRYPTED`
//! header of legacy OpenSSL-encrypted keys, to say precisely what is wrong.

use super::error::{Source, TlsError};
use base64::Engine;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use std::borrow::Cow;
use std::path::PathBuf;

/// One `-----BEGIN label-----` ... `-----END label-----` block.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
    /// Carried RFC 1421 headers saying the body is encrypted (legacy OpenSSL key encryption).
    pub legacy_encrypted: bool,
}

/// Splits PEM text into its blocks. Text outside blocks is ignored (OpenSSL writes
/// explanatory lines there); blocks of any label are returned, callers pick theirs.
pub(crate) fn parse(text: &[u8], source: &Source) -> Result<Vec<Block>, TlsError> {
    struct Open {
        label: String,
        line: usize,
        body: Vec<u8>,
        legacy_encrypted: bool,
    }
    let bad = |reason: String| TlsError::Pem {
        source: source.clone(),
        reason,
    };
    let mut blocks = Vec::new();
    let mut open: Option<Open> = None;
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.trim_ascii();
        let line_no = index + 1;
        match open.as_mut() {
            None => {
                if let Some(label) = marker(line, b"-----BEGIN ") {
                    open = Some(Open {
                        label,
                        line: line_no,
                        body: Vec::new(),
                        legacy_encrypted: false,
                    });
                }
            }
            Some(block) => {
                if let Some(label) = marker(line, b"-----END ") {
                    if label != block.label {
                        return Err(bad(format!(
                            "line {line_no}: \"END {label}\" closes \"BEGIN {}\" of line {}",
                            block.label, block.line
                        )));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(&block.body)
                        .map_err(|e| {
                            bad(format!(
                                "the {} block starting on line {} is not valid base64 ({e})",
                                block.label, block.line
                            ))
                        })?;
                    blocks.push(Block {
                        label: std::mem::take(&mut block.label),
                        der,
                        legacy_encrypted: block.legacy_encrypted,
                    });
                    open = None;
                } else if block.body.is_empty() && line.contains(&b':') {
                    // RFC 1421 header such as "Proc-Type: 4,ENCRYPTED" or "DEK-Info: ...".
                    if line.starts_with(b"Proc-Type:") && contains(line, b"ENCRYPTED") {
                        block.legacy_encrypted = true;
                    }
                } else {
                    block
                        .body
                        .extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
                }
            }
        }
    }
    match open {
        Some(block) => Err(bad(format!(
            "the {} block starting on line {} has no END line",
            block.label, block.line
        ))),
        None => Ok(blocks),
    }
}

fn marker(line: &[u8], prefix: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(prefix)?.strip_suffix(b"-----")?;
    Some(String::from_utf8_lossy(rest).into_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PEM text and where it came from.
pub(crate) type Sourced<'a> = (Source, Cow<'a, [u8]>);

/// Reads whichever of the file option and the in-memory option is set: `None` when neither
/// is, an error when both are or the file cannot be read.
pub(crate) fn read_source<'a>(
    file: &Option<PathBuf>,
    inline: &'a Option<Vec<u8>>,
    file_option: &'static str,
    pem_option: &'static str,
) -> Result<Option<Sourced<'a>>, TlsError> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(TlsError::Conflict {
            file_option,
            pem_option,
        }),
        (Some(path), None) => {
            let source = Source::File {
                option: file_option,
                path: path.clone(),
            };
            match std::fs::read(path) {
                Ok(text) => Ok(Some((source, Cow::Owned(text)))),
                Err(error) => Err(TlsError::Read { source, error }),
            }
        }
        (None, Some(text)) => Ok(Some((
            Source::Inline { option: pem_option },
            Cow::Borrowed(text),
        ))),
        (None, None) => Ok(None),
    }
}

fn is_certificate(label: &str) -> bool {
    // RFC 7468 section 5.1: parsers may accept the two historical labels too.
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "X.509 CERTIFICATE"
    )
}

/// All certificates in `text`, in order; an error when there are none.
pub(crate) fn certificates(
    text: &[u8],
    source: &Source,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = parse(text, source)?
        .into_iter()
        .filter(|b| is_certificate(&b.label))
        .map(|b| CertificateDer::from(b.der))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            source: source.clone(),
        });
    }
    Ok(certs)
}

/// The first private key in `text`, decrypted with `passphrase` when it is encrypted.
pub(crate) fn private_key(
    text: &[u8],
    source: &Source,
    passphrase: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let unsupported = |reason: &str| TlsError::UnsupportedKey {
        source: source.clone(),
        reason: reason.to_owned(),
    };
    for block in parse(text, source)? {
        let legacy = block.legacy_encrypted;
        let key = match block.label.as_str() {
            "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.der)),
            "RSA PRIVATE KEY" if !legacy => {
                PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.der))
            }
            "EC PRIVATE KEY" if !legacy => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.der)),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(unsupported(
                    "legacy OpenSSL PEM encryption (Proc-Type/DEK-Info headers) is not \
                     supported; convert the key to encrypted PKCS#8 with \
                     `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem`",
                ))
            }
            "ENCRYPTED PRIVATE KEY" => {
                PrivateKeyDer::Pkcs8(decrypt_pkcs8(&block.der, source, passphrase)?)
            }
            "DSA PRIVATE KEY" => {
                return Err(unsupported("DSA keys cannot be used with TLS 1.2/1.3"))
            }
            "OPENSSH PRIVATE KEY" => {
                return Err(unsupported(
                    "this is an OpenSSH key; TLS needs a PEM key (PKCS#8, PKCS#1 or SEC1)",
                ))
            }
            _ => continue,
        };
        return Ok(key);
    }
    Err(TlsError::NoPrivateKey {
        source: source.clone(),
    })
}

/// Decrypts an `EncryptedPrivateKeyInfo` (PKCS#8 with PKCS#5 v2 password-based encryption:
/// PBKDF2-HMAC-SHA2 or scrypt, AES-CBC or AES-GCM).
fn decrypt_pkcs8(
    der: &[u8],
    source: &Source,
    passphrase: Option<&[u8]>,
) -> Result<PrivatePkcs8KeyDer<'static>, TlsError> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| TlsError::Pem {
        source: source.clone(),
        reason: format!("the ENCRYPTED PRIVATE KEY block is not PKCS#8 ({e})"),
    })?;
    let Some(passphrase) = passphrase else {
        return Err(TlsError::PassphraseRequired {
            source: source.clone(),
        });
    };
    let wrong = || TlsError::WrongPassphrase {
        source: source.clone(),
    };
    match info.decrypt(passphrase) {
        Ok(plain) => {
            // A wrong passphrase usually fails the CBC padding check, but 1 time in ~256 the
            // padding looks valid and the "plaintext" is noise: it will not parse as a key.
            if pkcs8::PrivateKeyInfoRef::try_from(plain.as_bytes()).is_err() {
                return Err(wrong());
            }
            Ok(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()))
        }
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed))
        | Err(pkcs8::Error::Asn1(_)) => Err(wrong()),
        Err(e) => Err(TlsError::UnsupportedKey {
            source: source.clone(),
            reason: format!(
                "cannot decrypt it: {e}; re-encrypt it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`"
            ),
        }),
    }
}
