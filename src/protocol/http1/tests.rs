//! The codec driven as a connection would drive it: one growing buffer,
//! reads split anywhere, several requests per read.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    url: String,
    query: String,
    body: Vec<u8>,
    keep_alive: bool,
    expect_continue: bool,
}

/// What a server's read loop does with the codec.
#[derive(Default)]
struct Connection {
    parser: RequestParser,
    buf: Vec<u8>,
    current: Option<(Seen, BodyDecoder)>,
    seen: Vec<Seen>,
    closed: bool,
}

impl Connection {
    fn with_limits(limits: Limits) -> Self {
        Connection {
            parser: RequestParser::with_limits(limits),
            ..Connection::default()
        }
    }

    fn read(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        if self.closed {
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        loop {
            if let Some((seen, decoder)) = self.current.as_mut() {
                let step = decoder.decode(&self.buf)?;
                seen.body.extend_from_slice(&self.buf[step.body.clone()]);
                self.buf.drain(..step.consumed);
                if step.done {
                    let (seen, _) = self.current.take().unwrap();
                    let keep_alive = seen.keep_alive;
                    self.seen.push(seen);
                    if !keep_alive {
                        self.closed = true;
                        return Ok(());
                    }
                } else if self.buf.is_empty() {
                    return Ok(());
                }
                continue;
            }
            let Some((head, consumed)) = self.parser.parse_head(&self.buf)? else {
                return Ok(());
            };
            self.buf.drain(..consumed);
            let seen = Seen {
                method: head.method().to_string(),
                url: head.url().to_string(),
                query: head.query().to_string(),
                body: Vec::new(),
                keep_alive: head.keep_alive(),
                expect_continue: head.expect_continue(),
            };
            self.current = Some((seen, self.parser.body_decoder(&head)?));
        }
    }

    fn read_all(&mut self, pieces: &[&[u8]]) -> Result<Vec<Seen>, HttpError> {
        for piece in pieces {
            self.read(piece)?;
        }
        Ok(self.seen.clone())
    }
}

fn seen(method: &str, url: &str, query: &str, body: &[u8], keep_alive: bool) -> Seen {
    Seen {
        method: method.into(),
        url: url.into(),
        query: query.into(),
        body: body.to_vec(),
        keep_alive,
        expect_continue: false,
    }
}

const PIPELINE: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\
POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
3;x=y\r\nabc\r\n1\r\n\n\r\n0\r\nT: v\r\n\r\n\
\r\nPUT /d HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n\
GET /e HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\
GET /after-close HTTP/1.1\r\nHost: h\r\n\r\n";

fn expected_pipeline() -> Vec<Seen> {
    let mut with_continue = seen("POST", "/c", "", b"abc\n", true);
    with_continue.expect_continue = true;
    vec![
        seen("GET", "/a", "x=1", b"", true),
        seen("POST", "/b", "", b"hello", true),
        with_continue,
        seen("PUT", "/d", "", b"", true),
        seen("GET", "/e", "", b"", false),
    ]
}

#[test]
fn pipelined_requests_in_one_read() {
    let mut connection = Connection::default();
    assert_eq!(
        connection.read_all(&[PIPELINE]).unwrap(),
        expected_pipeline()
    );
    assert!(connection.closed, "Connection: close ends the connection");
}

#[test]
fn pipelined_requests_split_at_every_position() {
    let expected = expected_pipeline();
    for split in 0..=PIPELINE.len() {
        let (a, b) = PIPELINE.split_at(split);
        let mut connection = Connection::default();
        assert_eq!(
            connection.read_all(&[a, b]).unwrap(),
            expected,
            "split {split}"
        );
    }
}

#[test]
fn pipelined_requests_split_at_every_pair_of_positions() {
    let expected = expected_pipeline();
    let len = PIPELINE.len();
    for first in 0..=len {
        for second in (first..=len).step_by(5) {
            let pieces = [
                &PIPELINE[..first],
                &PIPELINE[first..second],
                &PIPELINE[second..],
            ];
            let mut connection = Connection::default();
            assert_eq!(
                connection.read_all(&pieces).unwrap(),
                expected,
                "splits {first}, {second}"
            );
        }
    }
}

#[test]
fn pipelined_requests_one_byte_per_read() {
    let pieces: Vec<&[u8]> = PIPELINE.chunks(1).collect();
    let mut connection = Connection::default();
    assert_eq!(connection.read_all(&pieces).unwrap(), expected_pipeline());
}

#[test]
fn http10_without_keep_alive_ends_the_connection() {
    let stream = b"GET /one HTTP/1.0\r\n\r\nGET /two HTTP/1.0\r\n\r\n";
    let mut connection = Connection::default();
    let seen = connection.read_all(&[stream]).unwrap();
    assert_eq!(seen, vec![self::seen("GET", "/one", "", b"", false)]);
}

/// Runs `stream` and returns the requests seen before the error, and its status.
fn refused(stream: &[u8]) -> (Vec<String>, u16) {
    let mut connection = Connection::default();
    let error = connection
        .read_all(&[stream])
        .expect_err("stream must be refused");
    let urls = connection.seen.iter().map(|s| s.url.clone()).collect();
    (urls, error.status)
}

#[test]
fn smuggling_attempts_are_refused_before_the_hidden_request() {
    let hidden = "GET /admin HTTP/1.1\r\nHost: h\r\n\r\n";
    let attempts = [
        // CL.TE and TE.CL.
        format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n", hidden.len()),
        // TE variants a front end might read differently.
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        // Lengths a front end might read differently.
        format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1,2\r\n\r\nab{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\nab{hidden}"),
        // Bare LF line endings.
        format!("POST /x HTTP/1.1\r\nHost: h\nContent-Length: 2\r\n\r\nab{hidden}"),
        // Chunk framing a front end might read differently.
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n{hidden}"),
        format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000002\r\nab\r\n0\r\n\r\n{hidden}"),
    ];
    for attempt in &attempts {
        let (urls, status) = refused(attempt.as_bytes());
        assert!(
            !urls.iter().any(|url| url == "/admin"),
            "hidden request surfaced: {attempt:?}"
        );
        assert!(status == 400 || status == 501, "{status} for {attempt:?}");
    }
}

#[test]
fn gzip_then_chunked_is_not_implemented() {
    let stream =
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(refused(stream).1, 501);
}

#[test]
fn body_limit_applies_to_both_framings() {
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let fits = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    let mut connection = Connection::with_limits(limits);
    assert_eq!(connection.read_all(&[fits]).unwrap()[0].body, b"abcd");

    let over = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n";
    let mut connection = Connection::with_limits(limits);
    assert_eq!(connection.read_all(&[over]).unwrap_err().status, 413);

    let over = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde";
    let mut connection = Connection::with_limits(limits);
    assert_eq!(connection.read_all(&[over]).unwrap_err().status, 413);
}

#[test]
fn a_request_and_its_response_round_trip() {
    let mut connection = Connection::default();
    let request = b"HEAD /file HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut parser = RequestParser::new();
    let (head, _) = parser.parse_head(request).unwrap().unwrap();
    connection.read(request).unwrap();
    assert_eq!(connection.seen[0].method, "HEAD");

    let date = HttpDate::from_unix(1_700_000_000);
    let mut writer = ResponseWriter::new(ResponseOptions::for_request(&head, Some(date)));
    let mut out = Vec::new();
    writer.write_status(&mut out, b"200 OK").unwrap();
    writer
        .write_header(&mut out, b"Content-Type", b"application/octet-stream")
        .unwrap();
    writer
        .end_without_body(&mut out, Some(4096), false)
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Length: 4096\r\n\r\n"
    );
    assert!(writer.keep_alive());
}
