use super::*;
use crate::protocol::handshake::MAX_HEADER_BYTES;

fn parse(bytes: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    RequestParser::new().parse_head(bytes)
}

fn head(bytes: &[u8]) -> RequestHead {
    let (head, consumed) = parse(bytes).unwrap().expect("complete head");
    assert_eq!(consumed, bytes.len());
    head
}

fn status(bytes: &[u8]) -> u16 {
    parse(bytes).expect_err("refused").status
}

/// A GET with Host plus `lines`.
fn get_with(lines: &[&str]) -> Vec<u8> {
    request("GET / HTTP/1.1", lines)
}

fn request(request_line: &str, lines: &[&str]) -> Vec<u8> {
    let mut text = format!("{request_line}\r\nHost: example.com\r\n");
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

#[test]
fn parses_request_line_and_fields() {
    let bytes = request(
        "POST /chat/room?x=1&y=%20 HTTP/1.1",
        &[
            "Content-Type:  text/plain ",
            "X-Multi: a",
            "x-multi: b",
            "Content-Length: 5",
            "X-Empty:",
        ],
    );
    let head = head(&bytes);
    assert_eq!(head.method(), "POST");
    assert_eq!(head.url(), "/chat/room");
    assert_eq!(head.query(), "x=1&y=%20");
    assert_eq!(head.version(), Version::Http11);
    assert_eq!(head.header("content-type"), Some("text/plain"));
    assert_eq!(head.header("x-multi"), Some("a"));
    assert_eq!(head.header("X-Multi"), None, "lookups take lowercase names");
    assert_eq!(
        head.header_values("x-multi").collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(head.header("x-empty"), Some(""));
    let names: Vec<&str> = head.headers().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "host",
            "content-type",
            "x-multi",
            "x-multi",
            "content-length",
            "x-empty"
        ]
    );
    assert_eq!(head.header_count(), 6);
    assert_eq!(head.framing(), BodyFraming::Length(5));
    assert!(head.keep_alive());
    assert!(!head.expect_continue());
    assert!(!head.is_websocket_upgrade());
    assert!(!head.is_head());
}

#[test]
fn target_forms_pass_through() {
    let head1 = head(&request("GET /only-path HTTP/1.1", &[]));
    assert_eq!((head1.url(), head1.query()), ("/only-path", ""));
    let head2 = head(&request("GET /a?b?c HTTP/1.1", &[]));
    assert_eq!((head2.url(), head2.query()), ("/a", "b?c"));
    let head3 = head(&request("GET http://example.com/x?q HTTP/1.1", &[]));
    assert_eq!((head3.url(), head3.query()), ("http://example.com/x", "q"));
    let head4 = head(&request("OPTIONS * HTTP/1.1", &[]));
    assert_eq!(head4.url(), "*");
    let head5 = head(&request("GET /caf\u{e9} HTTP/1.1", &[]));
    assert_eq!(head5.url(), "/caf\u{e9}");
}

#[test]
fn needs_more_until_the_empty_line_and_leaves_the_rest() {
    let mut bytes = request("POST /upload HTTP/1.1", &["Content-Length: 3"]);
    let head_len = bytes.len();
    bytes.extend_from_slice(b"abcGET / HTTP/1.1\r\n");
    for end in 0..head_len {
        assert!(parse(&bytes[..end]).unwrap().is_none(), "prefix {end}");
    }
    let (head, consumed) = parse(&bytes).unwrap().unwrap();
    assert_eq!(consumed, head_len);
    assert_eq!(head.url(), "/upload");
}

#[test]
fn one_parser_fed_growing_prefixes_scans_incrementally() {
    let bytes = request("GET /path?q HTTP/1.1", &["A: 1", "B: 2"]);
    let mut parser = RequestParser::new();
    for end in 0..bytes.len() {
        assert!(parser.parse_head(&bytes[..end]).unwrap().is_none());
    }
    let (head, consumed) = parser.parse_head(&bytes).unwrap().unwrap();
    assert_eq!((head.url(), consumed), ("/path", bytes.len()));
    // The parser starts afresh for the next request.
    let (again, _) = parser.parse_head(&bytes).unwrap().unwrap();
    assert_eq!(again.header("b"), Some("2"));
}

#[test]
fn a_shorter_buffer_restarts_the_scan() {
    let bytes = request("GET /first HTTP/1.1", &[]);
    let mut parser = RequestParser::new();
    assert!(parser
        .parse_head(&bytes[..bytes.len() - 1])
        .unwrap()
        .is_none());
    let other = request("GET /x HTTP/1.1", &[]);
    let (head, _) = parser.parse_head(&other[..]).unwrap().unwrap();
    assert_eq!(head.url(), "/x");
}

#[test]
fn leading_empty_lines_are_skipped_and_counted() {
    let mut bytes = b"\r\n\r\n".to_vec();
    bytes.extend_from_slice(&request("GET /after-blank HTTP/1.1", &[]));
    let (head, consumed) = parse(&bytes).unwrap().unwrap();
    assert_eq!(head.url(), "/after-blank");
    assert_eq!(consumed, bytes.len());
    assert!(parse(b"\r\n\r\n\r\n").unwrap().is_none());
}

#[test]
fn bare_lf_is_rejected_everywhere() {
    assert_eq!(status(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), 400);
    assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"), 400);
    // Detected as soon as the LF arrives, before the head is complete.
    assert_eq!(status(b"GET / HTTP/1.1\n"), 400);
}

#[test]
fn bare_cr_is_rejected() {
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn malformed_field_lines_are_400() {
    // obs-fold: a continuation line.
    assert_eq!(status(&get_with(&["X-Folded: a", " b"])), 400);
    assert_eq!(status(&get_with(&["X-Folded: a", "\tb"])), 400);
    // Whitespace before the colon, inside the name, or an empty name.
    assert_eq!(status(&get_with(&["Content-Length : 0"])), 400);
    assert_eq!(status(&get_with(&["Transfer-Encoding\t: chunked"])), 400);
    assert_eq!(status(&get_with(&["X Name: v"])), 400);
    assert_eq!(status(&get_with(&[": v"])), 400);
    assert_eq!(status(&get_with(&["No-Colon"])), 400);
    assert_eq!(status(&get_with(&["X-Ctl: a\u{1}b"])), 400);
    assert_eq!(status(&get_with(&["X-Nul: a\0b"])), 400);
    assert_eq!(status(&get_with(&["X-Del: a\u{7f}b"])), 400);
    // A field line before the request line ends.
    assert_eq!(status(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn malformed_request_lines_are_400_and_other_versions_505() {
    assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\r\n\r\n"), 400, "HTTP/0.9");
    assert_eq!(status(b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
}

#[test]
fn http10_is_accepted() {
    let head = head(b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(head.version(), Version::Http10);
    assert!(!head.keep_alive());
}

#[test]
fn host_is_required_once_in_http11() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(&get_with(&["Host: other"])), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert!(parse(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        .unwrap()
        .is_some());
}

#[test]
fn header_count_limit_is_431() {
    let lines: Vec<String> = (0..99).map(|i| format!("X-{i}: v")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    // 99 + Host = 100 fields: fine.
    assert_eq!(head(&get_with(&refs)).header_count(), 100);
    let mut more = refs.clone();
    more.push("X-Last: v");
    assert_eq!(status(&get_with(&more)), 431);
    // Detected before the head is complete.
    let bytes = get_with(&more);
    assert_eq!(status(&bytes[..bytes.len() - 2]), 431);

    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    let mut parser = RequestParser::with_limits(limits);
    assert!(parser.parse_head(&get_with(&["A: 1"])).is_ok());
    let error = parser.parse_head(&get_with(&["A: 1", "B: 2"])).unwrap_err();
    assert_eq!(error.status, 431);
}

#[test]
fn head_size_limit_is_431_even_while_incomplete() {
    let value = "v".repeat(MAX_HEADER_BYTES);
    let line = format!("X-Big: {value}");
    let bytes = get_with(&[&line]);
    assert_eq!(status(&bytes), 431);
    assert_eq!(status(&bytes[..MAX_HEADER_BYTES]), 431);
    assert!(parse(&bytes[..MAX_HEADER_BYTES - 1]).unwrap().is_none());

    // Exactly at the limit is accepted; one byte more is not.
    let base = get_with(&["X-Fill: "]).len();
    let fits = "f".repeat(MAX_HEADER_BYTES - base);
    let line = format!("X-Fill: {fits}");
    assert_eq!(get_with(&[&line]).len(), MAX_HEADER_BYTES);
    assert!(parse(&get_with(&[&line])).unwrap().is_some());
    let line = format!("X-Fill: {fits}f");
    assert_eq!(status(&get_with(&[&line])), 431);
}

#[test]
fn long_request_line_is_414_even_without_its_crlf() {
    let limit = Limits::default().max_request_line;
    let line = |len: usize| format!("GET /{} HTTP/1.1", "a".repeat(len - 14));
    assert_eq!(line(limit).len(), limit);
    assert!(parse(&request(&line(limit), &[])).unwrap().is_some());
    let too_long = request(&line(limit + 1), &[]);
    assert_eq!(status(&too_long), 414);
    // While the line is still arriving: at its limit plus a pending CR it
    // may still end; one more byte and it cannot.
    let exact = request(&line(limit), &[]);
    assert!(parse(&exact[..limit + 1]).unwrap().is_none());
    assert_eq!(status(&too_long[..limit + 1]), 414);
    assert_eq!(status(&[b'A'; 20_000]), 414);
}

/// The status for `bytes` when they arrive in two reads, cut at `cut`.
fn status_in_two_reads(bytes: &[u8], limits: Limits, cut: usize) -> u16 {
    let mut parser = RequestParser::with_limits(limits);
    match parser.parse_head(&bytes[..cut]) {
        Err(error) => error.status,
        Ok(Some(_)) => panic!("complete at {cut}"),
        Ok(None) => parser.parse_head(bytes).expect_err("refused").status,
    }
}

#[test]
fn the_status_does_not_depend_on_how_the_reads_split_the_head() {
    // Found by fuzz/http1_request: in one read, a bare LF or a long request
    // line beyond the head limit decided the status (400, 414); arriving in
    // pieces, the head limit struck first (431).
    let small = Limits {
        max_head_bytes: 64,
        max_request_line: 1000,
        ..Limits::default()
    };
    let bare_lf_past_the_limit = [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Pad: "[..],
        &[b'p'; 60],
        b"\n\r\n",
    ]
    .concat();
    let long_line = request(&format!("GET /{} HTTP/1.1", "a".repeat(1500)), &[]);
    for (bytes, limits, status) in [
        (&bare_lf_past_the_limit, small, 431),
        (&long_line, small, 431),
        // Within the limits, a bare LF is 400 however it arrives.
        (
            &request(&format!("GET /{}\n", "a".repeat(100)), &[]),
            Limits::default(),
            400,
        ),
    ] {
        let mut parser = RequestParser::with_limits(limits);
        assert_eq!(parser.parse_head(bytes).unwrap_err().status, status);
        for cut in 1..bytes.len() {
            assert_eq!(
                status_in_two_reads(bytes, limits, cut),
                status,
                "cut at {cut}"
            );
        }
    }
    // A request line ended by a bare LF once it is too long: 414, as when its
    // bytes arrive one by one.
    let strict = Limits {
        max_request_line: 16,
        ..Limits::default()
    };
    let bare = b"GET /aaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\nHost: a\r\n\r\n";
    assert_eq!(
        RequestParser::with_limits(strict)
            .parse_head(bare)
            .unwrap_err()
            .status,
        414
    );
    for cut in 1..bare.len() {
        assert_eq!(status_in_two_reads(bare, strict, cut), 414, "cut at {cut}");
    }
}

#[test]
fn non_utf8_values_become_replacement_characters() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n";
    assert_eq!(head(bytes).header("x-latin"), Some("caf\u{fffd}"));
}

fn framing(lines: &[&str]) -> Result<BodyFraming, u16> {
    match parse(&request("POST / HTTP/1.1", lines)) {
        Ok(Some((head, _))) => Ok(head.framing()),
        Ok(None) => panic!("incomplete"),
        Err(error) => Err(error.status),
    }
}

#[test]
fn content_length_values() {
    assert_eq!(framing(&[]), Ok(BodyFraming::Empty));
    assert_eq!(framing(&["Content-Length: 0"]), Ok(BodyFraming::Empty));
    assert_eq!(
        framing(&["Content-Length: 12"]),
        Ok(BodyFraming::Length(12))
    );
    assert_eq!(
        framing(&["Content-Length: 007"]),
        Ok(BodyFraming::Length(7))
    );
    assert_eq!(
        framing(&["Content-Length:   12   "]),
        Ok(BodyFraming::Length(12))
    );
    assert_eq!(
        framing(&["Content-Length: 18446744073709551615"]),
        Ok(BodyFraming::Length(u64::MAX))
    );
    // Repeats of one value, as lines or as a list.
    assert_eq!(
        framing(&["Content-Length: 5", "content-length: 5"]),
        Ok(BodyFraming::Length(5))
    );
    assert_eq!(
        framing(&["Content-Length: 5, 5"]),
        Ok(BodyFraming::Length(5))
    );
}

#[test]
fn invalid_content_lengths_are_400() {
    for value in [
        "",
        ",",
        "1,2",
        "+1",
        "-1",
        "1 2",
        "1.0",
        "0x10",
        "1e3",
        "١",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let line = format!("Content-Length: {value}");
        assert_eq!(framing(&[&line]), Err(400), "{value:?}");
    }
    assert_eq!(
        framing(&["Content-Length: 1", "Content-Length: 2"]),
        Err(400)
    );
    assert_eq!(
        framing(&["Content-Length: 1", "Content-Length: "]),
        Err(400)
    );
}

#[test]
fn transfer_encoding_values() {
    assert_eq!(
        framing(&["Transfer-Encoding: chunked"]),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        framing(&["Transfer-Encoding: CHUNKED"]),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        framing(&["Transfer-Encoding: chunked "]),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        framing(&["Transfer-Encoding: , chunked"]),
        Ok(BodyFraming::Chunked)
    );
    // Not ending in chunked: the length cannot be known.
    assert_eq!(framing(&["Transfer-Encoding: identity"]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding: gzip"]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding: chunked, gzip"]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding: chunked;q=1"]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding: chunkedx"]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding: \"chunked\""]), Err(400));
    assert_eq!(framing(&["Transfer-Encoding:"]), Err(400));
    assert_eq!(
        framing(&["Transfer-Encoding: chunked", "Transfer-Encoding: x"]),
        Err(400)
    );
    // chunked twice.
    assert_eq!(framing(&["Transfer-Encoding: chunked, chunked"]), Err(400));
    assert_eq!(
        framing(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]),
        Err(400)
    );
    // A real coding before chunked: understood, not implemented.
    assert_eq!(framing(&["Transfer-Encoding: gzip, chunked"]), Err(501));
    assert_eq!(
        framing(&["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"]),
        Err(501)
    );
    assert_eq!(framing(&["Transfer-Encoding: identity, chunked"]), Err(501));
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    assert_eq!(
        framing(&["Content-Length: 3", "Transfer-Encoding: chunked"]),
        Err(400)
    );
    assert_eq!(
        framing(&["Transfer-Encoding: chunked", "Content-Length: 3"]),
        Err(400)
    );
    assert_eq!(
        framing(&["Transfer-Encoding: identity", "Content-Length: 3"]),
        Err(400)
    );
}

#[test]
fn transfer_encoding_in_http10_is_400() {
    let bytes = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(bytes), 400);
    let bytes = b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(head(bytes).framing(), BodyFraming::Length(2));
}

#[test]
fn content_length_over_the_body_limit_is_413() {
    let limits = Limits {
        max_body: 10,
        ..Limits::default()
    };
    let mut parser = RequestParser::with_limits(limits);
    let ok = request("POST / HTTP/1.1", &["Content-Length: 10"]);
    assert!(parser.parse_head(&ok).unwrap().is_some());
    let big = request("POST / HTTP/1.1", &["Content-Length: 11"]);
    assert_eq!(parser.parse_head(&big).unwrap_err().status, 413);
    // Chunked: the decoder enforces it.
    let chunked = request("POST / HTTP/1.1", &["Transfer-Encoding: chunked"]);
    let (head, _) = parser.parse_head(&chunked).unwrap().unwrap();
    let mut decoder = parser.body_decoder(&head).unwrap();
    assert_eq!(decoder.decode(b"b\r\n").unwrap_err().status, 413);
}

fn keep_alive(version: &str, connection: &[&str]) -> bool {
    let lines: Vec<String> = connection
        .iter()
        .map(|v| format!("Connection: {v}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    head(&request(&format!("GET / {version}"), &refs)).keep_alive()
}

#[test]
fn keep_alive_by_version_and_connection() {
    assert!(keep_alive("HTTP/1.1", &[]));
    assert!(keep_alive("HTTP/1.1", &["keep-alive"]));
    assert!(keep_alive("HTTP/1.1", &["Upgrade"]));
    assert!(keep_alive("HTTP/1.1", &["closed"]));
    assert!(!keep_alive("HTTP/1.1", &["close"]));
    assert!(!keep_alive("HTTP/1.1", &["CLOSE"]));
    assert!(!keep_alive("HTTP/1.1", &["keep-alive, close"]));
    assert!(!keep_alive("HTTP/1.1", &["foo", "close"]));
    assert!(!keep_alive("HTTP/1.0", &[]));
    assert!(keep_alive("HTTP/1.0", &["keep-alive"]));
    assert!(keep_alive("HTTP/1.0", &["Keep-Alive"]));
    assert!(keep_alive("HTTP/1.0", &["foo, keep-alive"]));
    assert!(!keep_alive("HTTP/1.0", &["keep-alive", "close"]));
    assert!(!keep_alive("HTTP/1.0", &["keep-alive-ish"]));
}

#[test]
fn expect_continue_only_on_http11() {
    let with = |version: &str, value: &str| {
        let line = format!("Expect: {value}");
        head(&request(
            &format!("POST / {version}"),
            &[&line, "Content-Length: 1"],
        ))
        .expect_continue()
    };
    assert!(with("HTTP/1.1", "100-continue"));
    assert!(with("HTTP/1.1", "100-Continue"));
    assert!(!with("HTTP/1.1", "something-else"));
    assert!(!with("HTTP/1.0", "100-continue"));
}

#[test]
fn websocket_upgrade_detection() {
    let upgrade = |method: &str, lines: &[&str]| {
        head(&request(&format!("{method} /ws HTTP/1.1"), lines)).is_websocket_upgrade()
    };
    let lines = ["Upgrade: websocket", "Connection: keep-alive, Upgrade"];
    assert!(upgrade("GET", &lines));
    assert!(upgrade(
        "GET",
        &["Upgrade: WebSocket", "Connection: upgrade"]
    ));
    assert!(!upgrade("POST", &lines));
    assert!(!upgrade("GET", &["Upgrade: websocket"]));
    assert!(!upgrade("GET", &["Upgrade: h2c", "Connection: upgrade"]));
}

#[test]
fn head_method_is_flagged() {
    assert!(head(&request("HEAD / HTTP/1.1", &[])).is_head());
}

#[test]
fn errors_render_as_closing_responses() {
    let error = HttpError::new(431, "Request head too large");
    let text = String::from_utf8(error.response_bytes()).unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n\
         Connection: close\r\nContent-Length: 22\r\n\r\nRequest head too large"
    );
    assert_eq!(
        error.to_string(),
        "431 Request Header Fields Too Large: Request head too large"
    );
}
