//! parse_upgrade_request on arbitrary bytes: never panics; an accepted request meets
//! every rule the server relies on (method, Host, version, a key of 24 base64
//! characters decoding to 16 bytes, at most MAX_HEADERS headers, consumed bytes
//! within the input and the header limit); a refusal's response is well-formed HTTP
//! with the status the error announces.
#![no_main]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use rsws::protocol::handshake::{MAX_HEADERS, MAX_HEADER_BYTES};
use rsws::protocol::{
    parse_client_response, parse_upgrade_request, write_accept_response, HandshakeError,
    UpgradeRequest,
};

fn check_request(data: &[u8], request: &UpgradeRequest, consumed: usize) {
    assert!(consumed <= data.len() && consumed <= MAX_HEADER_BYTES);
    assert!(
        data[..consumed].ends_with(b"\n"),
        "header block ends with a newline"
    );
    assert_eq!(request.method, "GET");
    assert!(request.headers.len() <= MAX_HEADERS);
    for (name, value) in &request.headers {
        assert!(!name.is_empty());
        assert_eq!(*name, name.to_ascii_lowercase());
        assert_eq!(value, value.trim());
        assert!(!value.contains(['\r', '\n']), "{value:?}");
    }
    assert!(request.header("host").is_some());
    assert_eq!(request.header("sec-websocket-version"), Some("13"));
    assert_eq!(request.key.len(), 24, "{:?}", request.key);
    assert_eq!(BASE64.decode(&request.key).map(|k| k.len()), Ok(16));
    assert_eq!(
        request.header("sec-websocket-key"),
        Some(request.key.as_str())
    );
    assert!(!request.url.contains('?'));
    // The bytes after the request are not part of it.
    let again = parse_upgrade_request(&data[..consumed]);
    let (same, same_consumed) = again.expect("prefix parses").expect("prefix is complete");
    assert_eq!(same_consumed, consumed);
    assert_eq!(same.headers, request.headers);
    // Any shorter prefix is incomplete, never an error.
    assert!(matches!(
        parse_upgrade_request(&data[..consumed - 1]),
        Ok(None)
    ));
    // The 101 answer satisfies a client holding the same key.
    let mut response = Vec::new();
    write_accept_response(&mut response, &request.key, None, None, &[]);
    assert_eq!(
        parse_client_response(&response, &request.key),
        Ok(Some(response.len()))
    );
}

fn check_refusal(data: &[u8], error: HandshakeError) {
    if error == HandshakeError::HeadersTooLarge {
        // Either too many headers, or no end of the header block in time.
        let lines = data.iter().filter(|&&b| b == b'\n').count();
        assert!(
            data.len() >= MAX_HEADER_BYTES || lines > MAX_HEADERS,
            "{data:?}"
        );
    }
    let mut out = Vec::new();
    error.write_response(&mut out);
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("{error:?} response does not parse: {other:?}"),
    };
    assert_eq!(response.version, Some(1));
    assert_eq!(response.code, Some(error.status()));
    let header = |name: &str| {
        let mut found = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let value = found.next().map(|h| h.value);
        assert!(found.next().is_none(), "{name} repeated");
        value
    };
    assert_eq!(header("connection"), Some(&b"close"[..]));
    let body = &out[head_len..];
    assert_eq!(
        header("content-length"),
        Some(body.len().to_string().as_bytes())
    );
    match error {
        HandshakeError::MethodNotAllowed => assert_eq!(header("allow"), Some(&b"GET"[..])),
        HandshakeError::UpgradeRequired => {
            assert_eq!(header("sec-websocket-version"), Some(&b"13"[..]))
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    match parse_upgrade_request(data) {
        Ok(None) => assert!(data.len() < MAX_HEADER_BYTES),
        Ok(Some((request, consumed))) => check_request(data, &request, consumed),
        Err(error) => check_refusal(data, error),
    }
});
