//! `ssl_ciphers` parsing.

use crate::server::tls::ciphers::select;
use crate::server::tls::TlsError;
use rustls::CipherSuite as S;

const ALL13: [S; 3] = [
    S::TLS13_AES_256_GCM_SHA384,
    S::TLS13_AES_128_GCM_SHA256,
    S::TLS13_CHACHA20_POLY1305_SHA256,
];

fn with13(tls12: &[S]) -> Vec<S> {
    let mut v = ALL13.to_vec();
    v.extend_from_slice(tls12);
    v
}

#[test]
fn empty_means_all_default_suites() {
    assert_eq!(select(None).unwrap().len(), 9);
    assert_eq!(select(Some("  ")).unwrap().len(), 9);
    assert_eq!(select(Some("DEFAULT")).unwrap().len(), 9);
    assert_eq!(select(Some("HIGH:!aNULL:!MD5")).unwrap().len(), 9);
}

#[test]
fn openssl_and_iana_names_in_the_given_order() {
    assert_eq!(
        select(Some(
            "ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        ))
        .unwrap(),
        with13(&[
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ])
    );
    // Commas and spaces separate too; duplicates collapse.
    assert_eq!(
        select(Some(
            "ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES256-GCM-SHA384"
        ))
        .unwrap(),
        with13(&[S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384])
    );
}

#[test]
fn naming_tls13_suites_restricts_tls13() {
    assert_eq!(
        select(Some("TLS_AES_128_GCM_SHA256")).unwrap(),
        vec![S::TLS13_AES_128_GCM_SHA256]
    );
    assert_eq!(
        select(Some(
            "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256"
        ))
        .unwrap(),
        vec![
            S::TLS13_CHACHA20_POLY1305_SHA256,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        ]
    );
    // Removing without naming keeps the others.
    assert_eq!(
        select(Some("HIGH:!TLS_CHACHA20_POLY1305_SHA256")).unwrap()[..2],
        [S::TLS13_AES_256_GCM_SHA384, S::TLS13_AES_128_GCM_SHA256]
    );
}

#[test]
fn keywords_and_intersections() {
    assert_eq!(
        select(Some("EECDH+AESGCM:EDH+AESGCM")).unwrap(),
        with13(&[
            S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ])
    );
    assert_eq!(
        select(Some("aRSA+CHACHA20")).unwrap(),
        with13(&[S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256])
    );
    assert_eq!(
        select(Some("ECDSA:!AES256:-CHACHA20")).unwrap(),
        with13(&[S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256])
    );
}

#[test]
fn exclusions_and_reordering() {
    // `!` is final, `-` can be undone.
    assert_eq!(
        select(Some(
            "!CHACHA20:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"
        ))
        .unwrap(),
        with13(&[S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256])
    );
    assert_eq!(
        select(Some("aRSA:-CHACHA20:ECDHE-RSA-CHACHA20-POLY1305")).unwrap(),
        with13(&[
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ])
    );
    assert_eq!(
        select(Some("aRSA:+AES256:@STRENGTH")).unwrap(),
        with13(&[
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ])
    );
}

#[test]
fn real_openssl_ciphers_rustls_lacks_are_skipped() {
    // Mozilla "intermediate": the DHE suites are skipped.
    let mozilla = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                   ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                   ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                   DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
    assert_eq!(select(Some(mozilla)).unwrap().len(), 9);
    // Node's old default list, full of CBC and DHE names.
    let node = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:\
                ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:\
                DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:\
                ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-SHA384:ECDHE-RSA-AES256-SHA256:\
                DHE-RSA-AES256-SHA256:HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:!SRP:!CAMELLIA";
    assert_eq!(select(Some(node)).unwrap().len(), 9);
    // Only unavailable TLS 1.2 ciphers: TLS 1.3 still works, as with OpenSSL.
    assert_eq!(
        select(Some("AES128-SHA:DHE-RSA-AES256-SHA")).unwrap(),
        ALL13.to_vec()
    );
}

#[test]
fn unknown_names_are_errors_listing_the_supported_ones() {
    for typo in [
        "ECDHE-RSA-AES128-GCM-SHA255",
        "ECDHE-RSA-AES128-GCM-SHA256:BOGUS",
        "TLS_AES_128_GCM_SHA255",
        "EECDH+AESGMC",
    ] {
        let e = select(Some(typo)).unwrap_err();
        assert!(matches!(e, TlsError::Ciphers { .. }));
        let msg = e.to_string();
        assert!(msg.starts_with("ssl_ciphers: unknown cipher \""), "{msg}");
        assert!(msg.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{msg}");
        assert!(
            msg.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{msg}"
        );
    }
    // Unknown items that only remove are ignored.
    assert_eq!(select(Some("HIGH:!FOO:-BAR")).unwrap().len(), 9);
}

#[test]
fn nothing_left_is_an_error() {
    let e = select(Some(
        "!TLS_AES_128_GCM_SHA256:!TLS_AES_256_GCM_SHA384:!TLS_CHACHA20_POLY1305_SHA256:\
         DHE-RSA-AES128-GCM-SHA256",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("leaves no cipher suite"), "{e}");
}
