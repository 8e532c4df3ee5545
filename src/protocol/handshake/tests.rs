use super::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request_with(lines: &[&str]) -> Vec<u8> {
    let mut text = String::from("GET /chat?room=1&x=2 HTTP/1.1\r\n");
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn valid_lines() -> Vec<&'static str> {
    vec![
        "Host: example.com",
        "Upgrade: WebSocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Protocol: superchat",
        "Sec-WebSocket-Extensions:  permessage-deflate ",
        "X-Custom:  Value ",
    ]
}

fn without(name: &str) -> Vec<&'static str> {
    valid_lines()
        .into_iter()
        .filter(|line| !line.to_ascii_lowercase().starts_with(name))
        .collect()
}

fn with_replaced(name: &str, line: &'static str) -> Vec<&'static str> {
    let mut lines = without(name);
    lines.push(line);
    lines
}

#[test]
fn rfc_example_accept_key() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn parses_a_valid_request() {
    let mut bytes = request_with(&valid_lines());
    let len = bytes.len();
    bytes.extend_from_slice(b"\x81\x80trailing frame");
    let (request, consumed) = parse_upgrade_request(&bytes).unwrap().unwrap();
    assert_eq!(consumed, len);
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, "/chat");
    assert_eq!(request.query, "room=1&x=2");
    assert_eq!(request.key, KEY);
    assert_eq!(request.protocols, "chat, superchat");
    assert_eq!(request.extensions, "permessage-deflate");
    assert_eq!(request.header("x-custom"), Some("Value"));
    assert_eq!(request.header("host"), Some("example.com"));
    assert_eq!(request.header("missing"), None);
    assert_eq!(
        request.headers[0],
        ("host".to_string(), "example.com".to_string())
    );
    assert_eq!(request.headers.len(), valid_lines().len());
}

#[test]
fn first_protocol_of_the_offer() {
    let parse = |lines: Vec<&str>| {
        parse_upgrade_request(&request_with(&lines))
            .unwrap()
            .unwrap()
            .0
    };
    assert_eq!(parse(valid_lines()).first_protocol(), Some("chat"));
    let one = parse(with_replaced(
        "sec-websocket-protocol",
        "Sec-WebSocket-Protocol: a,b",
    ));
    assert_eq!(one.first_protocol(), Some("a"));
    assert_eq!(
        parse(without("sec-websocket-protocol")).first_protocol(),
        None
    );
    let blank = parse(with_replaced(
        "sec-websocket-protocol",
        "Sec-WebSocket-Protocol: , x",
    ));
    assert_eq!(blank.first_protocol(), None);
}

#[test]
fn path_without_query() {
    let text = String::from_utf8(request_with(&valid_lines())).unwrap();
    let text = text.replace("/chat?room=1&x=2", "/");
    let (request, _) = parse_upgrade_request(text.as_bytes()).unwrap().unwrap();
    assert_eq!((request.url.as_str(), request.query.as_str()), ("/", ""));
}

#[test]
fn partial_input_needs_more() {
    let bytes = request_with(&valid_lines());
    for end in 0..bytes.len() {
        assert!(
            parse_upgrade_request(&bytes[..end]).unwrap().is_none(),
            "{end}"
        );
    }
}

#[test]
fn rejects_each_rule() {
    use HandshakeError::*;
    let post = String::from_utf8(request_with(&valid_lines()))
        .unwrap()
        .replacen("GET", "POST", 1);
    assert_eq!(
        parse_upgrade_request(post.as_bytes()).unwrap_err(),
        MethodNotAllowed
    );
    let http10 = String::from_utf8(request_with(&valid_lines()))
        .unwrap()
        .replace("HTTP/1.1", "HTTP/1.0");
    assert!(matches!(
        parse_upgrade_request(http10.as_bytes()),
        Err(BadRequest(_))
    ));

    let bad_request_cases = [
        without("upgrade"),
        with_replaced("upgrade", "Upgrade: h2c"),
        without("connection"),
        with_replaced("connection", "Connection: keep-alive"),
        without("host"),
        without("sec-websocket-key"),
        with_replaced("sec-websocket-key", "Sec-WebSocket-Key: c2hvcnQ="),
        with_replaced("sec-websocket-key", "Sec-WebSocket-Key: not base64!!"),
    ];
    for lines in bad_request_cases {
        let result = parse_upgrade_request(&request_with(&lines));
        assert!(matches!(result, Err(BadRequest(_))), "{lines:?}");
    }
    for lines in [
        without("sec-websocket-version"),
        with_replaced("sec-websocket-version", "Sec-WebSocket-Version: 8"),
    ] {
        assert_eq!(
            parse_upgrade_request(&request_with(&lines)).unwrap_err(),
            UpgradeRequired
        );
    }
    let garbage = b"\x00\x01 nonsense\r\n\r\n";
    assert!(matches!(parse_upgrade_request(garbage), Err(BadRequest(_))));
}

#[test]
fn oversized_headers() {
    let many: Vec<String> = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: v")).collect();
    let lines: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        parse_upgrade_request(&request_with(&lines)).unwrap_err(),
        HandshakeError::HeadersTooLarge
    );

    let mut endless = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    endless.resize(MAX_HEADER_BYTES, b'a');
    assert_eq!(
        parse_upgrade_request(&endless).unwrap_err(),
        HandshakeError::HeadersTooLarge
    );
    endless.truncate(MAX_HEADER_BYTES - 1);
    assert!(parse_upgrade_request(&endless).unwrap().is_none());
}

#[test]
fn error_responses() {
    let cases = [
        (
            HandshakeError::BadRequest("nope"),
            "HTTP/1.1 400 Bad Request\r\n",
            "nope",
        ),
        (
            HandshakeError::MethodNotAllowed,
            "HTTP/1.1 405 Method Not Allowed\r\n",
            "Allow: GET\r\n",
        ),
        (
            HandshakeError::UpgradeRequired,
            "HTTP/1.1 426 Upgrade Required\r\n",
            "Sec-WebSocket-Version: 13\r\n",
        ),
        (
            HandshakeError::HeadersTooLarge,
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "Connection: close",
        ),
    ];
    for (error, start, contains) in cases {
        let mut out = Vec::new();
        error.write_response(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(start), "{text}");
        assert!(text.contains(contains), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(text[9..12].parse::<u16>().unwrap(), error.status());
    }
}

#[test]
fn status_response_skips_duplicate_framing_headers() {
    let mut out = Vec::new();
    let headers = [
        ("X-A".to_string(), "1".to_string()),
        ("content-length".to_string(), "99".to_string()),
    ];
    write_status_response(&mut out, "404 Not Found", &headers, b"missing");
    assert_eq!(
        out,
        b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nConnection: close\r\nContent-Length: 7\r\n\r\nmissing"
    );
}

#[test]
fn client_and_server_handshake_round_trip() {
    let key = generate_key();
    assert_eq!(BASE64.decode(&key).unwrap().len(), 16);
    assert_ne!(key, generate_key());
    let extra = [("Origin".to_string(), "http://x".to_string())];
    let request = client_request("localhost:9001", "/path?q", &key, &extra);
    let (parsed, consumed) = parse_upgrade_request(&request).unwrap().unwrap();
    assert_eq!(consumed, request.len());
    assert_eq!(parsed.header("origin"), Some("http://x"));
    assert_eq!((parsed.url.as_str(), parsed.query.as_str()), ("/path", "q"));

    let mut response = Vec::new();
    let extra = [("X-Server".to_string(), "rsws".to_string())];
    write_accept_response(
        &mut response,
        &parsed.key,
        Some("chat"),
        Some("permessage-deflate"),
        &extra,
    );
    let text = String::from_utf8(response.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
    assert!(text.contains("X-Server: rsws\r\n"));
    assert!(text.ends_with("\r\n\r\n"));

    for end in 0..response.len() {
        assert_eq!(parse_client_response(&response[..end], &key), Ok(None));
    }
    response.extend_from_slice(b"\x81\x00");
    assert_eq!(parse_client_response(&response, &key), Ok(Some(text.len())));
    assert!(parse_client_response(&response, &generate_key()).is_err());

    let mut not_found = Vec::new();
    write_status_response(&mut not_found, "404 Not Found", &[], b"");
    assert_eq!(
        parse_client_response(&not_found, &key),
        Err("404 Not Found".to_string())
    );
}
