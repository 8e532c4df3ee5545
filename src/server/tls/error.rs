//! `TlsError`: every way building a TLS configuration can fail, each with a message that
//! names the option (and file) involved and says what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a piece of PEM came from: a file option or an in-memory option. Shown in errors as
/// `key_file_name "/etc/tls/key.pem"` or `key (in-memory PEM)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from the file named by the option `option` (e.g. `cert_file_name`).
    File { option: &'static str, path: PathBuf },
    /// Given inline through the option `option` (e.g. `cert`).
    Inline { option: &'static str },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { option, path } => write!(f, "{option} {:?}", path.display()),
            Source::Inline { option } => write!(f, "{option} (in-memory PEM)"),
        }
    }
}

#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file option names a file that cannot be read (missing, permissions, ...).
    Read { source: Source, error: io::Error },
    /// The text is not well-formed PEM (unterminated block, bad base64).
    Pem { source: Source, reason: String },
    /// No `CERTIFICATE` block in a certificate (or CA) source.
    NoCertificate { source: Source },
    /// A certificate block that does not parse as an X.509 certificate.
    BadCertificate { source: Source, reason: String },
    /// No private key block in the key source.
    NoPrivateKey { source: Source },
    /// The key is encrypted and no passphrase was given.
    PassphraseRequired { source: Source },
    /// The key is encrypted and the passphrase does not decrypt it.
    WrongPassphrase { source: Source },
    /// A key (or key encryption) this build cannot use.
    UnsupportedKey { source: Source, reason: String },
    /// The private key is not the one the first certificate of the chain was issued for.
    KeyMismatch { key: Source, cert: Source },
    /// A required option is absent, e.g. a key without a certificate.
    Missing { what: &'static str },
    /// Both the file and the in-memory form of the same option were given.
    Conflict {
        file_option: &'static str,
        pem_option: &'static str,
    },
    /// `ssl_ciphers` names something unknown or leaves no usable cipher suite.
    Ciphers { reason: String },
    /// `add_server_name` / `remove_server_name` got something that is not a host name.
    ServerName { name: String, reason: &'static str },
    /// rustls refused the assembled configuration (should not happen with valid inputs).
    Rustls {
        context: &'static str,
        error: String,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { source, error } => write!(f, "cannot read {source}: {error}"),
            TlsError::Pem { source, reason } => write!(f, "malformed PEM in {source}: {reason}"),
            TlsError::NoCertificate { source } => write!(
                f,
                "no certificate found in {source} \
                 (expected a PEM block \"-----BEGIN CERTIFICATE-----\")"
            ),
            TlsError::BadCertificate { source, reason } => {
                write!(f, "invalid certificate in {source}: {reason}")
            }
            TlsError::NoPrivateKey { source } => write!(
                f,
                "no private key found in {source} (expected a PEM block \"PRIVATE KEY\", \
                 \"RSA PRIVATE KEY\", \"EC PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\")"
            ),
            TlsError::PassphraseRequired { source } => write!(
                f,
                "the private key in {source} is encrypted but no passphrase was given"
            ),
            TlsError::WrongPassphrase { source } => write!(
                f,
                "cannot decrypt the private key in {source}: wrong passphrase"
            ),
            TlsError::UnsupportedKey { source, reason } => {
                write!(f, "unsupported private key in {source}: {reason}")
            }
            TlsError::KeyMismatch { key, cert } => write!(
                f,
                "the private key in {key} does not match the certificate in {cert}"
            ),
            TlsError::Missing { what } => write!(f, "{what}"),
            TlsError::Conflict {
                file_option,
                pem_option,
            } => write!(
                f,
                "both {file_option} and {pem_option} were given; use one of them"
            ),
            TlsError::Ciphers { reason } => write!(f, "ssl_ciphers: {reason}"),
            TlsError::ServerName { name, reason } => {
                write!(f, "invalid server name {name:?}: {reason}")
            }
            TlsError::Rustls { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}
