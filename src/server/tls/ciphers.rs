//! `ssl_ciphers`: an OpenSSL cipher list mapped onto the cipher suites rustls (ring) offers.
//!
//! rustls offers nine suites, all AEAD with forward secrecy: three TLS 1.3 suites and six
//! TLS 1.2 ECDHE suites. OpenSSL's cipher-list language is reproduced for what can matter
//! with those:
//!
//! - Items are separated by `:`, `,` or spaces. Each is a suite name (OpenSSL spelling such as
//!   `ECDHE-RSA-AES128-GCM-SHA256`, or the IANA/RFC spelling such as
//!   `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`; TLS 1.3 suites are only ever spelled
//!   `TLS_AES_128_GCM_SHA256` and so on), a keyword (`DEFAULT`, `ALL`, `HIGH`, `ECDHE`,
//!   `EECDH`, `aRSA`, `aECDSA`, `ECDSA`, `AESGCM`, `AES128`, `AES256`, `AES`, `CHACHA20`, ...),
//!   or keywords joined by `+` (intersection, as in `EECDH+AESGCM`).
//! - `!item` removes for good, `-item` removes (a later item may add back), `+item` moves to
//!   the end; `@STRENGTH`, `@SECLEVEL=n` are accepted and ignored.
//! - As in OpenSSL, where `SSL_CTX_set_cipher_list` does not touch TLS 1.3, keywords select
//!   TLS 1.2 suites only, and all TLS 1.3 suites stay enabled unless the list names TLS 1.3
//!   suites explicitly (an rsws extension: then exactly those are enabled), or removes them.
//! - Names of real OpenSSL ciphers that rustls does not implement (CBC, RSA key exchange,
//!   DHE, CCM, 3DES, ...; recognised from OpenSSL's vocabulary) add nothing, as OpenSSL skips
//!   ciphers it lacks. Anything else that would add suites but is not understood is an error
//!   listing what is supported, so typos do not pass silently. Unknown items after `!`/`-`/`+`
//!   are ignored: removing or reordering cannot enable anything.
//! - A list that leaves no suite at all is an error.

use super::error::TlsError;
use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Rsa,
    Ecdsa,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20,
}

struct Known {
    suite: CipherSuite,
    openssl: &'static str,
    iana: &'static str,
    /// `None` for TLS 1.3 suites (authentication is not part of the suite).
    auth: Option<Auth>,
    cipher: Cipher,
}

const fn tls13(suite: CipherSuite, name: &'static str, cipher: Cipher) -> Known {
    Known {
        suite,
        openssl: name,
        iana: name,
        auth: None,
        cipher,
    }
}

const fn tls12(
    suite: CipherSuite,
    openssl: &'static str,
    iana: &'static str,
    auth: Auth,
    cipher: Cipher,
) -> Known {
    Known {
        suite,
        openssl,
        iana,
        auth: Some(auth),
        cipher,
    }
}

/// Every suite rustls' ring provider implements, with its names.
const KNOWN: &[Known] = &[
    tls13(
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
        Cipher::Aes256Gcm,
    ),
    tls13(
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
        Cipher::Aes128Gcm,
    ),
    tls13(
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
        Cipher::Chacha20,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Auth::Ecdsa,
        Cipher::Aes256Gcm,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Auth::Ecdsa,
        Cipher::Aes128Gcm,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Auth::Ecdsa,
        Cipher::Chacha20,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Auth::Rsa,
        Cipher::Aes256Gcm,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Auth::Rsa,
        Cipher::Aes128Gcm,
    ),
    tls12(
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Auth::Rsa,
        Cipher::Chacha20,
    ),
];

/// Keywords that select among the TLS 1.2 suites.
const KEYWORDS: &[&str] = &[
    "DEFAULT", "ALL", "HIGH", "FIPS", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "AEAD",
    "TLSv1.2", "aRSA", "aECDSA", "ECDSA", "AESGCM", "AES128", "AES256", "AES", "CHACHA20",
];

fn keyword_matches(keyword: &str, k: &Known) -> Option<bool> {
    let Some(auth) = k.auth else {
        // Keywords never select TLS 1.3 suites (OpenSSL configures those separately).
        return KEYWORDS.contains(&keyword).then_some(false);
    };
    Some(match keyword {
        "DEFAULT" | "ALL" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "ECDH" | "AEAD"
        | "TLSv1.2" => true,
        // FIPS 140 approved: AES-GCM, not ChaCha20.
        "FIPS" | "AESGCM" | "AES" => k.cipher != Cipher::Chacha20,
        "aRSA" => auth == Auth::Rsa,
        "aECDSA" | "ECDSA" => auth == Auth::Ecdsa,
        "AES128" => k.cipher == Cipher::Aes128Gcm,
        "AES256" => k.cipher == Cipher::Aes256Gcm,
        "CHACHA20" => k.cipher == Cipher::Chacha20,
        _ => return None,
    })
}

/// OpenSSL keywords and TLS 1.3 names that exist but select nothing rustls implements.
const UNAVAILABLE_WORDS: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "EXPORT",
    "EXP",
    "LOW",
    "MEDIUM",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "kRSA",
    "RSA",
    "aDSS",
    "DSS",
    "DH",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "ADH",
    "AECDH",
    "aECDH",
    "kECDH",
    "PSK",
    "kPSK",
    "aPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "kRSAPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "aGOST",
    "kGOST",
    "GOST94",
    "GOST89MAC",
    "3DES",
    "DES",
    "RC4",
    "RC2",
    "IDEA",
    "SEED",
    "MD5",
    "SHA1",
    "SHA",
    "SHA256",
    "SHA384",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "ARIAGCM",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "CBC",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// Components of OpenSSL's cipher names (`DHE-RSA-AES128-SHA256`, `AES256-SHA`, ...).
const OPENSSL_NAME_PARTS: &[&str] = &[
    "ECDHE",
    "DHE",
    "EDH",
    "ECDH",
    "ADH",
    "AECDH",
    "RSA",
    "ECDSA",
    "DSS",
    "PSK",
    "SRP",
    "AES",
    "AES128",
    "AES256",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA128",
    "ARIA256",
    "CHACHA20",
    "POLY1305",
    "GCM",
    "CCM",
    "CCM8",
    "CBC",
    "CBC3",
    "DES",
    "3DES",
    "RC4",
    "RC2",
    "IDEA",
    "SEED",
    "NULL",
    "EXP",
    "EXP1024",
    "KRB5",
    "SHA",
    "SHA256",
    "SHA384",
    "MD5",
    "GOST",
    "GOST89",
    "GOST94",
    "GOST2001",
    "GOST2012",
    "IMIT",
    "MGM",
];

/// A real OpenSSL cipher name (by its shape) that rustls does not implement.
fn is_unavailable(item: &str) -> bool {
    if UNAVAILABLE_WORDS.contains(&item) {
        return true;
    }
    let mut parts = item.split('-');
    let count = parts.clone().count();
    count >= 2 && parts.all(|p| OPENSSL_NAME_PARTS.contains(&p))
}

enum Resolved {
    Suites(Vec<usize>),
    Unknown,
}

/// Indices into `KNOWN` selected by one item without its prefix.
fn resolve(item: &str) -> Resolved {
    if let Some(i) = KNOWN
        .iter()
        .position(|k| k.openssl == item || k.iana == item)
    {
        return Resolved::Suites(vec![i]);
    }
    let mut selected: Option<Vec<usize>> = None;
    for part in item.split('+') {
        let matches: Vec<usize> = if is_unavailable(part) {
            Vec::new()
        } else if let Some(i) = KNOWN
            .iter()
            .position(|k| k.openssl == part || k.iana == part)
        {
            vec![i]
        } else if KEYWORDS.contains(&part) {
            (0..KNOWN.len())
                .filter(|&i| keyword_matches(part, &KNOWN[i]) == Some(true))
                .collect()
        } else {
            return Resolved::Unknown;
        };
        selected = Some(match selected {
            None => matches,
            Some(prev) => prev.into_iter().filter(|i| matches.contains(i)).collect(),
        });
    }
    Resolved::Suites(selected.unwrap_or_default())
}

/// Names and keywords accepted, for error messages.
pub fn supported_names() -> String {
    let names: Vec<&str> = KNOWN.iter().map(|k| k.openssl).collect();
    format!(
        "supported suites: {}; the same with IANA names ({}); keywords: {}",
        names.join(", "),
        KNOWN
            .iter()
            .filter(|k| k.auth.is_some())
            .map(|k| k.iana)
            .collect::<Vec<_>>()
            .join(", "),
        KEYWORDS.join(", ")
    )
}

/// The suites selected by `list`, in order (TLS 1.3 first); `None`/empty gives rustls'
/// default list.
pub fn select(list: Option<&str>) -> Result<Vec<CipherSuite>, TlsError> {
    let list = list.map(str::trim).unwrap_or("");
    if list.is_empty() {
        return Ok(KNOWN.iter().map(|k| k.suite).collect());
    }
    let mut chosen: Vec<usize> = Vec::new();
    let mut banned: Vec<usize> = Vec::new();
    // TLS 1.3 suites removed by `!` or `-`, for when the list does not name any.
    let mut removed13: Vec<usize> = Vec::new();
    let mut tls13_named = false;
    let items = list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty());
    for item in items {
        if item.starts_with('@') {
            continue;
        }
        let (op, body) = match item.as_bytes()[0] {
            op @ (b'!' | b'-' | b'+') => (op, &item[1..]),
            _ => (b'=', item),
        };
        let selected = match resolve(body) {
            Resolved::Suites(s) => s,
            Resolved::Unknown if op == b'=' => {
                return Err(TlsError::Ciphers {
                    reason: format!("unknown cipher {body:?}; {}", supported_names()),
                })
            }
            Resolved::Unknown => continue,
        };
        if matches!(op, b'!' | b'-') {
            removed13.extend(selected.iter().filter(|&&i| KNOWN[i].auth.is_none()));
        }
        match op {
            b'!' => {
                chosen.retain(|i| !selected.contains(i));
                banned.extend(&selected);
            }
            b'-' => chosen.retain(|i| !selected.contains(i)),
            b'+' => {
                let (moved, kept): (Vec<usize>, Vec<usize>) =
                    chosen.iter().partition(|i| selected.contains(i));
                chosen = kept;
                chosen.extend(moved);
            }
            _ => {
                for i in selected {
                    if KNOWN[i].auth.is_none() {
                        tls13_named = true;
                    }
                    if !banned.contains(&i) && !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    if !tls13_named {
        // OpenSSL semantics: the cipher list leaves TLS 1.3 alone, except for removals.
        let mut all13: Vec<usize> = (0..KNOWN.len())
            .filter(|&i| KNOWN[i].auth.is_none() && !removed13.contains(&i))
            .collect();
        all13.extend(chosen.iter().copied().filter(|&i| KNOWN[i].auth.is_some()));
        chosen = all13;
    }
    // rustls wants TLS 1.3 suites first in its list; keep each group's order.
    chosen.sort_by_key(|&i| KNOWN[i].auth.is_some());
    if chosen.is_empty() {
        return Err(TlsError::Ciphers {
            reason: format!(
                "{list:?} leaves no cipher suite that rustls implements; {}",
                supported_names()
            ),
        });
    }
    Ok(chosen.into_iter().map(|i| KNOWN[i].suite).collect())
}

/// `base` with its suites replaced by those `list` selects.
pub fn provider_with(
    base: &CryptoProvider,
    list: Option<&str>,
) -> Result<CryptoProvider, TlsError> {
    let wanted = select(list)?;
    let suites: Vec<SupportedCipherSuite> = wanted
        .iter()
        .filter_map(|w| base.cipher_suites.iter().find(|s| s.suite() == *w).copied())
        .collect();
    Ok(CryptoProvider {
        cipher_suites: suites,
        ..base.clone()
    })
}
