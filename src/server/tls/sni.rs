//! `SniResolver`: picks the certificate for the server name a client asks for.
//!
//! Names are exact (`example.com`) or one-label wildcards (`*.example.com` matches
//! `a.example.com`, neither `example.com` nor `a.b.example.com`, as in RFC 6125). An exact
//! entry wins over a wildcard. Unknown names and clients that send no name get the default
//! certificate; without one the handshake fails.
//!
//! Read on every handshake, written rarely: the table sits behind `std::sync::RwLock`. A
//! read is an uncontended atomic increment and a hash lookup, noise next to the signature
//! a handshake computes; writers (add/remove/reload) hold the lock only to swap an `Arc`.

use super::error::TlsError;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Default)]
pub struct SniResolver {
    default: RwLock<Option<Arc<CertifiedKey>>>,
    /// Keyed by normalised pattern: `example.com` or `*.example.com`.
    names: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

/// Lowercases `name` and drops one trailing dot; checks that it is a DNS name, optionally
/// with a leading `*.` label when `wildcard_ok`.
pub fn normalize_name(name: &str, wildcard_ok: bool) -> Result<String, TlsError> {
    let invalid = |reason| TlsError::ServerName {
        name: name.to_owned(),
        reason,
    };
    let lower = name.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    let (base, wildcard) = match lower.strip_prefix("*.") {
        Some(base) if wildcard_ok => (base, true),
        Some(_) => return Err(invalid("wildcards are only allowed in added names")),
        None => (lower, false),
    };
    if base.is_empty() {
        return Err(invalid("empty name"));
    }
    if base.contains('*') {
        return Err(invalid(
            "only a whole leading label may be a wildcard: *.example.com",
        ));
    }
    if base.parse::<std::net::IpAddr>().is_ok() {
        return Err(invalid("an IP address is never sent as a TLS server name"));
    }
    rustls::pki_types::DnsName::try_from(base).map_err(|_| invalid("not a valid DNS name"))?;
    Ok(if wildcard {
        format!("*.{base}")
    } else {
        base.to_owned()
    })
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl SniResolver {
    /// A resolver serving `default` to clients whose name is not in the table.
    pub fn new(default: Option<Arc<CertifiedKey>>) -> Self {
        SniResolver {
            default: RwLock::new(default),
            names: RwLock::default(),
        }
    }

    /// Replaces the default certificate (for handshakes that start afterwards).
    pub fn set_default(&self, key: Option<Arc<CertifiedKey>>) {
        *write(&self.default) = key;
    }

    /// The default certificate.
    pub fn default_key(&self) -> Option<Arc<CertifiedKey>> {
        read(&self.default).clone()
    }

    /// Adds or replaces the certificate for `pattern` (`example.com` or `*.example.com`).
    pub fn add(&self, pattern: &str, key: Arc<CertifiedKey>) -> Result<(), TlsError> {
        let pattern = normalize_name(pattern, true)?;
        write(&self.names).insert(pattern, key);
        Ok(())
    }

    /// Removes the entry for `pattern` (spelled as it was added); false if there was none.
    pub fn remove(&self, pattern: &str) -> bool {
        match normalize_name(pattern, true) {
            Ok(pattern) => write(&self.names).remove(&pattern).is_some(),
            Err(_) => false,
        }
    }

    /// The certificate for the client-sent `name` from the table (exact entry, then
    /// wildcard), without falling back to the default.
    pub fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = normalize_name(name, false).ok()?;
        let names = read(&self.names);
        if names.is_empty() {
            return None;
        }
        if let Some(key) = names.get(&name) {
            return Some(key.clone());
        }
        let (_, parent) = name.split_once('.')?;
        names.get(&format!("*.{parent}")).cloned()
    }

    /// The certificate a handshake for `name` gets: the table's, else the default.
    pub fn resolve_name(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        name.and_then(|n| self.lookup(n))
            .or_else(|| self.default_key())
    }

    /// Number of names in the table.
    pub fn len(&self) -> usize {
        read(&self.names).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.resolve_name(client_hello.server_name())
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = read(&self.names).keys().cloned().collect();
        names.sort();
        f.debug_struct("SniResolver")
            .field("has_default", &read(&self.default).is_some())
            .field("names", &names)
            .finish()
    }
}
