use super::*;
use crate::protocol::http1::{BodyDecoder, BodyFraming};

fn writer() -> ResponseWriter {
    ResponseWriter::new(ResponseOptions::default())
}

fn writer_with(change: impl FnOnce(&mut ResponseOptions)) -> ResponseWriter {
    let mut options = ResponseOptions::default();
    change(&mut options);
    ResponseWriter::new(options)
}

fn text(out: &[u8]) -> &str {
    std::str::from_utf8(out).unwrap()
}

#[test]
fn end_with_defaults() {
    let mut out = Vec::new();
    let mut response = writer();
    assert_eq!(response.state(), ResponseState::StatusPending);
    response.end(&mut out, b"hello", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    );
    assert!(response.is_done());
    assert!(response.keep_alive());
    assert_eq!(response.status(), 200);
}

#[test]
fn status_headers_and_date_in_order() {
    let mut out = Vec::new();
    let date = HttpDate::from_unix(784_111_777);
    let mut response = writer_with(|o| o.date = Some(date));
    response.write_status(&mut out, b"404 Not Found").unwrap();
    assert_eq!(response.state(), ResponseState::Headers);
    response
        .write_header(&mut out, b"Content-Type", b"text/plain")
        .unwrap();
    response.write_header(&mut out, b"X-A", b"1").unwrap();
    response.write_header(&mut out, b"x-a", b"2").unwrap();
    response.end(&mut out, b"nope", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a: 2\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 4\r\n\r\nnope"
    );
    assert_eq!(response.status(), 404);
}

#[test]
fn header_before_status_implies_200() {
    let mut out = Vec::new();
    let mut response = writer();
    response.write_header(&mut out, b"X", b"y").unwrap();
    assert_eq!(text(&out), "HTTP/1.1 200 OK\r\nX: y\r\n");
    assert_eq!(
        response.write_status(&mut out, b"201 Created"),
        Err(ResponseError::StatusAlreadyWritten)
    );
}

#[test]
fn bare_status_code_gets_its_space() {
    let mut out = Vec::new();
    writer().write_status(&mut out, b"299").unwrap();
    assert_eq!(text(&out), "HTTP/1.1 299 \r\n");
}

#[test]
fn invalid_statuses_are_refused() {
    for status in [
        &b""[..],
        b"20",
        b"2x0 OK",
        b"200OK",
        b"099 Low",
        b"100 Continue",
        b"101 Switching Protocols",
        b"600 High",
        b"200 OK\r\nX-Injected: 1",
        b"200 OK\n",
        b"200 A\0",
    ] {
        let mut out = Vec::new();
        let mut response = writer();
        assert_eq!(
            response.write_status(&mut out, status),
            Err(ResponseError::InvalidStatus),
            "{status:?}"
        );
        assert!(out.is_empty());
        assert_eq!(response.state(), ResponseState::StatusPending);
    }
}

#[test]
fn header_injection_is_refused_without_writing() {
    let mut out = Vec::new();
    let mut response = writer();
    let refused = [
        (
            &b"X"[..],
            &b"a\r\nSet-Cookie: evil"[..],
            ResponseError::InvalidHeaderValue,
        ),
        (b"X", b"a\nb", ResponseError::InvalidHeaderValue),
        (b"X", b"a\rb", ResponseError::InvalidHeaderValue),
        (b"X", b"a\0b", ResponseError::InvalidHeaderValue),
        (b"X", b"a\x7fb", ResponseError::InvalidHeaderValue),
        (b"X\r\nY", b"v", ResponseError::InvalidHeaderName),
        (b"X Y", b"v", ResponseError::InvalidHeaderName),
        (b"X:", b"v", ResponseError::InvalidHeaderName),
        (b"", b"v", ResponseError::InvalidHeaderName),
        (b"Content-Length", b"5", ResponseError::FramingHeader),
        (
            b"transfer-encoding",
            b"chunked",
            ResponseError::FramingHeader,
        ),
    ];
    for (name, value, error) in refused {
        assert_eq!(response.write_header(&mut out, name, value), Err(error));
    }
    assert!(out.is_empty());
    // Tabs, spaces and obs-text are fine in values.
    response
        .write_header(&mut out, b"X", b"a\tb c \xff")
        .unwrap();
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nX: a\tb c \xff\r\n");
}

#[test]
fn streamed_body_is_chunked() {
    let mut out = Vec::new();
    let mut response = writer();
    response.write_header(&mut out, b"X", b"1").unwrap();
    response.write(&mut out, b"ab").unwrap();
    assert_eq!(
        response.state(),
        ResponseState::Streaming(BodyMode::Chunked)
    );
    response.write(&mut out, b"").unwrap();
    response.write(&mut out, &[b'z'; 26]).unwrap();
    response.end(&mut out, b"end", false).unwrap();
    let expected = format!(
        "HTTP/1.1 200 OK\r\nX: 1\r\nTransfer-Encoding: chunked\r\n\r\n\
         2\r\nab\r\n1a\r\n{}\r\n3\r\nend\r\n0\r\n\r\n",
        "z".repeat(26)
    );
    assert_eq!(text(&out), expected);
    assert!(response.keep_alive());
}

#[test]
fn empty_write_only_finishes_the_head() {
    let mut out = Vec::new();
    let mut response = writer();
    response.write(&mut out, b"").unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    response.end_without_body(&mut out, None, false).unwrap();
    assert!(text(&out).ends_with("\r\n\r\n0\r\n\r\n"));
}

#[test]
fn chunked_output_decodes_back() {
    let mut out = Vec::new();
    let mut response = writer();
    let mut expected = Vec::new();
    for i in 0..50u8 {
        let piece = vec![i; usize::from(i) * 37];
        response.write(&mut out, &piece).unwrap();
        expected.extend_from_slice(&piece);
    }
    response.end(&mut out, b"tail", false).unwrap();
    expected.extend_from_slice(b"tail");
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
    let mut input = &out[head_end..];
    let mut body = Vec::new();
    while !decoder.is_done() {
        let step = decoder.decode(input).unwrap();
        body.extend_from_slice(&input[step.body.clone()]);
        input = &input[step.consumed..];
    }
    assert!(input.is_empty());
    assert_eq!(body, expected);
}

#[test]
fn http10_stream_is_delimited_by_close() {
    let mut out = Vec::new();
    let mut response = writer_with(|o| o.http11 = false);
    response.write(&mut out, b"raw").unwrap();
    response.end(&mut out, b" bytes", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nraw bytes"
    );
    assert!(!response.keep_alive());
}

#[test]
fn http10_keep_alive_is_announced() {
    let mut out = Vec::new();
    let mut response = writer_with(|o| o.http11 = false);
    response.end(&mut out, b"ok", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
    );
    assert!(response.keep_alive());
}

#[test]
fn connection_close_when_closing() {
    // The request asked for it.
    let mut out = Vec::new();
    let mut response = writer_with(|o| o.keep_alive = false);
    response.end(&mut out, b"", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    // The app asked in end().
    let mut out = Vec::new();
    let mut response = writer();
    response.end(&mut out, b"x", true).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
    );
    assert!(!response.keep_alive());
    // The app wrote the header itself: not repeated.
    let mut out = Vec::new();
    let mut response = writer();
    response
        .write_header(&mut out, b"Connection", b"Close")
        .unwrap();
    response.end(&mut out, b"", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(!response.keep_alive());
}

#[test]
fn app_date_replaces_the_automatic_one() {
    let mut out = Vec::new();
    let mut response = writer_with(|o| o.date = Some(HttpDate::from_unix(0)));
    response.write_header(&mut out, b"Date", b"mine").unwrap();
    response.end(&mut out, b"", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nDate: mine\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn head_responses_have_headers_but_no_body() {
    let mut out = Vec::new();
    let mut response = writer_with(|o| o.head_request = true);
    response.end(&mut out, b"hello", false).unwrap();
    assert_eq!(text(&out), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");

    let mut out = Vec::new();
    let mut response = writer_with(|o| o.head_request = true);
    response.write(&mut out, b"hello").unwrap();
    response.end(&mut out, b"more", false).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    );

    let mut out = Vec::new();
    let mut response = writer_with(|o| o.head_request = true);
    response
        .end_without_body(&mut out, Some(1234), false)
        .unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    );

    let mut out = Vec::new();
    let mut response = writer_with(|o| o.head_request = true);
    response.end_without_body(&mut out, None, false).unwrap();
    assert_eq!(text(&out), "HTTP/1.1 200 OK\r\n\r\n");
    assert!(response.keep_alive());

    let mut out = Vec::new();
    let mut response = writer_with(|o| o.head_request = true);
    assert!(!response.try_end(&mut out, b"abc", 6).unwrap());
    assert!(response.try_end(&mut out, b"def", 6).unwrap());
    assert_eq!(text(&out), "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n");
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let mut out = Vec::new();
    let mut response = writer();
    response.write_status(&mut out, b"204 No Content").unwrap();
    let before = out.len();
    assert_eq!(
        response.end(&mut out, b"x", false),
        Err(ResponseError::BodyNotAllowed)
    );
    assert_eq!(
        response.write(&mut out, b""),
        Err(ResponseError::BodyNotAllowed)
    );
    assert_eq!(
        response.try_end(&mut out, b"", 1),
        Err(ResponseError::BodyNotAllowed)
    );
    assert_eq!(
        response.end_without_body(&mut out, Some(1), false),
        Err(ResponseError::LengthWithoutBody)
    );
    assert_eq!(out.len(), before, "refused calls write nothing");
    response.end(&mut out, b"", false).unwrap();
    assert_eq!(text(&out), "HTTP/1.1 204 No Content\r\n\r\n");

    let mut out = Vec::new();
    let mut response = writer();
    response
        .write_status(&mut out, b"304 Not Modified")
        .unwrap();
    response.write_header(&mut out, b"ETag", b"\"v1\"").unwrap();
    response
        .end_without_body(&mut out, Some(512), false)
        .unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 512\r\n\r\n"
    );

    let mut out = Vec::new();
    let mut response = writer();
    response
        .write_status(&mut out, b"304 Not Modified")
        .unwrap();
    response.end(&mut out, b"", false).unwrap();
    assert_eq!(text(&out), "HTTP/1.1 304 Not Modified\r\n\r\n");
}

#[test]
fn end_without_body_reports_zero_for_ordinary_responses() {
    let mut out = Vec::new();
    let mut response = writer();
    assert_eq!(
        response.end_without_body(&mut out, Some(5), false),
        Err(ResponseError::LengthWithoutBody)
    );
    response.end_without_body(&mut out, None, true).unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn try_end_announces_the_total_and_counts() {
    let mut out = Vec::new();
    let mut response = writer();
    assert!(!response.try_end(&mut out, b"hello", 11).unwrap());
    assert_eq!(
        response.state(),
        ResponseState::Streaming(BodyMode::Sized { remaining: 6 })
    );
    assert_eq!(
        response.try_end(&mut out, b"toolong", 11),
        Err(ResponseError::SizeExceeded)
    );
    assert_eq!(
        response.write(&mut out, b"x"),
        Err(ResponseError::BodyModeMismatch)
    );
    assert!(response.try_end(&mut out, b" world", 11).unwrap());
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
    );
    assert!(response.is_done() && response.keep_alive());
    assert_eq!(
        response.try_end(&mut out, b"", 11),
        Err(ResponseError::Ended)
    );

    // Everything at once.
    let mut out = Vec::new();
    assert!(writer().try_end(&mut out, b"all", 3).unwrap());
    assert_eq!(
        text(&out),
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nall"
    );
    // More than the total on the first call: nothing written.
    let mut out = Vec::new();
    assert_eq!(
        writer().try_end(&mut out, b"four", 3),
        Err(ResponseError::SizeExceeded)
    );
    assert!(out.is_empty());
}

#[test]
fn ending_a_sized_body_early_closes_the_connection() {
    let mut out = Vec::new();
    let mut response = writer();
    response.try_end(&mut out, b"abc", 10).unwrap();
    assert_eq!(
        response.end(&mut out, b"defghijklmn", false),
        Err(ResponseError::SizeExceeded)
    );
    response.end(&mut out, b"de", false).unwrap();
    assert!(response.is_done());
    assert!(!response.keep_alive());
    assert!(text(&out).ends_with("\r\n\r\nabcde"));

    let mut response = writer();
    response.try_end(&mut out, b"abc", 10).unwrap();
    response.end_without_body(&mut out, None, false).unwrap();
    assert!(!response.keep_alive());

    // Ending exactly at the total keeps it.
    let mut response = writer();
    response.try_end(&mut out, b"abc", 5).unwrap();
    response.end(&mut out, b"de", false).unwrap();
    assert!(response.keep_alive());
}

#[test]
fn out_of_order_calls_are_refused() {
    let mut out = Vec::new();
    let mut response = writer();
    response.write_status(&mut out, b"200 OK").unwrap();
    assert_eq!(
        response.write_status(&mut out, b"200 OK"),
        Err(ResponseError::StatusAlreadyWritten)
    );
    response.write(&mut out, b"body").unwrap();
    let before = out.len();
    assert_eq!(
        response.write_status(&mut out, b"500 Oops"),
        Err(ResponseError::BodyStarted)
    );
    assert_eq!(
        response.write_header(&mut out, b"X", b"y"),
        Err(ResponseError::BodyStarted)
    );
    assert_eq!(
        response.try_end(&mut out, b"x", 1),
        Err(ResponseError::BodyModeMismatch)
    );
    assert_eq!(
        response.end_without_body(&mut out, Some(3), false),
        Err(ResponseError::LengthWithoutBody)
    );
    assert_eq!(out.len(), before);
    response.end(&mut out, b"", false).unwrap();
    for result in [
        response.write_status(&mut out, b"200 OK"),
        response.write_header(&mut out, b"X", b"y"),
        response.write(&mut out, b"x"),
        response.end(&mut out, b"", false),
        response.end_without_body(&mut out, None, false),
        response.try_end(&mut out, b"", 0).map(|_| ()),
    ] {
        assert_eq!(result, Err(ResponseError::Ended));
    }
    assert_eq!(
        ResponseError::Ended.to_string(),
        "the response was already ended"
    );
}

#[test]
fn framing_helpers() {
    let mut out = Vec::new();
    write_continue(&mut out);
    write_chunk(&mut out, b"");
    write_chunk(&mut out, &[b'x'; 255]);
    write_last_chunk(&mut out);
    let expected = format!(
        "HTTP/1.1 100 Continue\r\n\r\nff\r\n{}\r\n0\r\n\r\n",
        "x".repeat(255)
    );
    assert_eq!(text(&out), expected);
}

#[test]
fn options_follow_the_request() {
    let mut parser = crate::protocol::http1::RequestParser::new();
    let (head, _) = parser
        .parse_head(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap()
        .unwrap();
    let date = HttpDate::from_unix(0);
    assert_eq!(
        ResponseOptions::for_request(&head, Some(date)),
        ResponseOptions {
            head_request: true,
            keep_alive: true,
            http11: false,
            date: Some(date),
        }
    );
}
