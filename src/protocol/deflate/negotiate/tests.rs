use super::*;
use crate::protocol::deflate::options::*;

const BOTH_DEDICATED: u32 = DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR;

fn header(options: u32, offer: &str) -> Option<String> {
    negotiate(options, offer).map(|n| n.response_header)
}

#[test]
fn disabled_or_not_offered() {
    assert_eq!(negotiate(DISABLED, "permessage-deflate"), None);
    assert_eq!(negotiate(SHARED_COMPRESSOR, ""), None);
    assert_eq!(negotiate(SHARED_COMPRESSOR, "x-webkit-deflate-frame"), None);
    assert_eq!(negotiate(SHARED_COMPRESSOR, "permessage-deflate-x"), None);
}

#[test]
fn plain_offer_with_each_mode() {
    let shared = negotiate(SHARED_COMPRESSOR, "permessage-deflate").unwrap();
    assert_eq!(
        shared,
        Negotiated {
            response_header:
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover".into(),
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    );
    let dedicated = negotiate(BOTH_DEDICATED, "permessage-deflate").unwrap();
    assert_eq!(dedicated.response_header, "permessage-deflate");
    assert!(!dedicated.server_no_context_takeover && !dedicated.client_no_context_takeover);
    assert_eq!(
        header(
            DEDICATED_COMPRESSOR_4KB | SHARED_DECOMPRESSOR,
            "permessage-deflate"
        ),
        Some("permessage-deflate; client_no_context_takeover".into())
    );
    // A decompressor alone means a shared compressor, as in uWS.
    assert_eq!(
        header(DEDICATED_DECOMPRESSOR, "permessage-deflate"),
        Some("permessage-deflate; server_no_context_takeover".into())
    );
}

#[test]
fn client_asks_for_no_context_takeover() {
    let n = negotiate(
        BOTH_DEDICATED,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .unwrap();
    assert!(n.server_no_context_takeover && n.client_no_context_takeover);
    assert_eq!(
        n.response_header,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
}

#[test]
fn server_window_asked_by_the_client_is_honoured() {
    for asked in 8..=15u8 {
        let offer = format!("permessage-deflate; server_max_window_bits={asked}");
        let n = negotiate(BOTH_DEDICATED, &offer).unwrap();
        assert_eq!(n.server_max_window_bits, asked);
        assert_eq!(
            n.response_header,
            format!("permessage-deflate; server_max_window_bits={asked}")
        );
        // Also with a shared compressor.
        let n = negotiate(SHARED_COMPRESSOR, &offer).unwrap();
        assert_eq!(n.server_max_window_bits, asked);
    }
    // Our smaller window wins, and is announced since the client asked.
    let n = negotiate(
        DEDICATED_COMPRESSOR_8KB,
        "permessage-deflate; server_max_window_bits=12",
    )
    .unwrap();
    assert_eq!(n.server_max_window_bits, 10);
    assert!(n.response_header.ends_with("; server_max_window_bits=10"));
    // Not asked: our window is used but not announced.
    let n = negotiate(DEDICATED_COMPRESSOR_3KB, "permessage-deflate").unwrap();
    assert_eq!(n.server_max_window_bits, 9);
    assert!(!n.response_header.contains("server_max_window_bits"));
}

#[test]
fn client_window() {
    let cases = [
        // (decompressor, offer parameter, agreed client window, response parameter)
        (DEDICATED_DECOMPRESSOR, "", 15, None),
        (DEDICATED_DECOMPRESSOR, "; client_max_window_bits", 15, None),
        (
            DEDICATED_DECOMPRESSOR,
            "; client_max_window_bits=15",
            15,
            None,
        ),
        (
            DEDICATED_DECOMPRESSOR,
            "; client_max_window_bits=10",
            10,
            Some(10),
        ),
        (
            DEDICATED_DECOMPRESSOR_4KB,
            "; client_max_window_bits",
            12,
            Some(12),
        ),
        (
            DEDICATED_DECOMPRESSOR_4KB,
            "; client_max_window_bits=9",
            9,
            Some(9),
        ),
        (
            DEDICATED_DECOMPRESSOR_512B,
            "; client_max_window_bits=8",
            8,
            Some(8),
        ),
        // Without the offer the RFC forbids limiting the client.
        (DEDICATED_DECOMPRESSOR_512B, "", 15, None),
        (SHARED_DECOMPRESSOR, "; client_max_window_bits", 15, None),
    ];
    for (decompressor, param, window, response) in cases {
        let offer = format!("permessage-deflate{param}");
        let n = negotiate(DEDICATED_COMPRESSOR | decompressor, &offer).unwrap();
        assert_eq!(n.client_max_window_bits, window, "{offer}");
        let expected = response.map(|bits| format!("; client_max_window_bits={bits}"));
        let found = n
            .response_header
            .find("; client_max_window_bits")
            .map(|at| n.response_header[at..].to_owned());
        assert_eq!(found, expected, "{offer}");
    }
}

#[test]
fn all_parameters_at_once() {
    let n = negotiate(
        DEDICATED_COMPRESSOR_16KB | DEDICATED_DECOMPRESSOR_2KB,
        "permessage-deflate; client_max_window_bits; server_max_window_bits=13; \
         server_no_context_takeover; client_no_context_takeover",
    )
    .unwrap();
    assert_eq!(
        n.response_header,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=11"
    );
}

#[test]
fn invalid_offers_are_skipped() {
    let invalid = [
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=08",
        "server_max_window_bits=+9",
        "server_max_window_bits=1a",
        "server_max_window_bits=\"\"",
        "client_max_window_bits=7",
        "client_max_window_bits=0",
        "client_max_window_bits=100",
        "client_max_window_bits=\"16\"",
        "server_no_context_takeover=true",
        "client_no_context_takeover=\"\"",
        "server_no_context_takeover; server_no_context_takeover",
        "client_max_window_bits; client_max_window_bits=10",
        "server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10",
        "unknown_parameter",
        "mux",
        "",
        "client_max_window_bits=",
    ];
    for params in invalid {
        let offer = format!("permessage-deflate; {params}");
        assert_eq!(negotiate(BOTH_DEDICATED, &offer), None, "{offer}");
        // A later valid offer is used instead.
        let with_fallback = format!("{offer}, permessage-deflate; client_no_context_takeover");
        assert_eq!(
            header(BOTH_DEDICATED, &with_fallback),
            Some("permessage-deflate; client_no_context_takeover".into()),
            "{with_fallback}"
        );
    }
}

#[test]
fn first_valid_offer_wins() {
    let offers = "permessage-deflate; server_max_window_bits=10, \
                  permessage-deflate; server_no_context_takeover, permessage-deflate";
    assert_eq!(
        header(BOTH_DEDICATED, offers),
        Some("permessage-deflate; server_max_window_bits=10".into())
    );
}

#[test]
fn header_syntax_variants() {
    let expected = Some("permessage-deflate; server_max_window_bits=10".into());
    let accepted = [
        "permessage-deflate;server_max_window_bits=10",
        "  permessage-deflate \t;\t server_max_window_bits = 10  ",
        "permessage-deflate; server_max_window_bits=\"10\"",
        "permessage-deflate; server_max_window_bits=\"1\\0\"",
        "PerMessage-Deflate; Server_Max_Window_Bits=10",
        "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10",
        "foo; bar=\"a, permessage-deflate; b\", permessage-deflate; server_max_window_bits=10",
        ", ,permessage-deflate; server_max_window_bits=10,",
        "foo;;, permessage-deflate; server_max_window_bits=10",
    ];
    for offer in accepted {
        assert_eq!(header(BOTH_DEDICATED, offer), expected, "{offer}");
    }
    let refused = [
        "permessage-deflate; server_max_window_bits=10 11",
        "permessage-deflate server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=\"10",
        "foo; bar=\"unterminated, permessage-deflate",
        "permessage-deflate; server_max_window_bits=\"10\"x",
    ];
    for offer in refused {
        assert_eq!(negotiate(BOTH_DEDICATED, offer), None, "{offer}");
    }
}

#[test]
fn negotiated_codec_round_trip() {
    let n = negotiate(SHARED_COMPRESSOR, "permessage-deflate").unwrap();
    let mut compressed = Vec::new();
    n.deflater().compress(b"hello hello hello", &mut compressed);
    let mut plain = Vec::new();
    n.inflater()
        .decompress(&compressed, 100, &mut plain)
        .unwrap();
    assert_eq!(plain, b"hello hello hello");
}
