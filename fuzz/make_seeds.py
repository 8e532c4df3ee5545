#!/usr/bin/env python3
"""Writes the hand-made seed corpora: fuzz/corpus/<target>/seed-<name>.

Run from anywhere: python3 fuzz/make_seeds.py. The files are committed; inputs the
fuzzer adds next to them (hash names) are ignored by fuzz/.gitignore.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KEY = b"\x37\xfa\x21\x3d"


def write(target, name, data):
    path = os.path.join(ROOT, target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "seed-" + name), "wb") as f:
        f.write(data)


def header(opcode, length, fin=True, mask=KEY, rsv=0, form=None):
    """A frame header; form forces the 7/16/64-bit length encoding."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if mask else 0
    form = form or (7 if length < 126 else 16 if length <= 0xFFFF else 64)
    if form == 7:
        out = bytes([first, mask_bit | length])
    elif form == 16:
        out = bytes([first, mask_bit | 126]) + struct.pack(">H", length)
    else:
        out = bytes([first, mask_bit | 127]) + struct.pack(">Q", length)
    return out + (mask or b"")


def masked(data, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def frame(opcode, payload, fin=True, mask=KEY, rsv=0):
    body = masked(payload, mask) if mask else payload
    return header(opcode, len(payload), fin, mask, rsv) + body


def close(code, reason=b""):
    return frame(8, struct.pack(">H", code) + reason)


# frame_header: each opcode, each length form at its edges, flags, truncations.
for op, name in [(0, "cont"), (1, "text"), (2, "binary"), (8, "close"), (9, "ping"), (10, "pong")]:
    write("frame_header", f"{name}", header(op, 5) + b"hello")
for n in [0, 125, 126, 65535, 65536, 2**32, 2**63 - 1]:
    write("frame_header", f"len-{n}", header(2, n))
    write("frame_header", f"len-{n}-unmasked", header(2, n, mask=None))
write("frame_header", "len-126-in-64bit-form", header(2, 126, form=64))
write("frame_header", "len-5-in-16bit-form", header(2, 5, form=16))
write("frame_header", "len-top-bit", header(2, 2**63 + 1))
write("frame_header", "rsv-all-reserved-opcode", header(3, 1, fin=False, rsv=7))
write("frame_header", "truncated-64bit", header(2, 70000)[:6])

# mask: key (4), offset (8), align (1), split (2), then the data.
for n in [0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 300]:
    offset = struct.pack("<Q", n * 7)
    data = bytes(i * 13 & 0xFF for i in range(n))
    write("mask", f"len-{n}", KEY + offset + bytes([n % 64]) + struct.pack("<H", n // 2) + data)

# handshake: valid requests and one of each refusal.
VALID = [
    b"GET /chat?room=1 HTTP/1.1",
    b"Host: server.example.com",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
]


def request(lines, eol=b"\r\n"):
    return eol.join(lines) + eol + eol


def replaced(prefix, line):
    return [line if l.startswith(prefix) else l for l in VALID]


def without(prefix):
    return [l for l in VALID if not l.startswith(prefix)]


write("handshake", "valid", request(VALID))
write("handshake", "valid-bare-lf", request(VALID, b"\n"))
write("handshake", "valid-with-body", request(VALID) + frame(1, b"hi"))
write("handshake", "valid-extras", request(VALID + [
    b"Origin: http://example.com",
    b"Sec-WebSocket-Protocol: chat, superchat",
    b"Sec-WebSocket-Protocol: v2",
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    b"connection: keep-alive",
]))
write("handshake", "valid-tokens", request(replaced(b"Connection", b"Connection: keep-alive, Upgrade")
                                          + [b"X-Empty:"]))
write("handshake", "partial", request(VALID)[:-3])
write("handshake", "post", request(replaced(b"GET", b"POST / HTTP/1.1")))
write("handshake", "http10", request(replaced(b"GET", b"GET / HTTP/1.0")))
write("handshake", "no-upgrade", request(without(b"Upgrade")))
write("handshake", "no-connection", request(without(b"Connection")))
write("handshake", "no-host", request(without(b"Host")))
write("handshake", "version-8", request(replaced(b"Sec-WebSocket-Version", b"Sec-WebSocket-Version: 8")))
write("handshake", "key-15-bytes", request(replaced(b"Sec-WebSocket-Key", b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4P")))
write("handshake", "key-unpadded", request(replaced(b"Sec-WebSocket-Key", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ")))
write("handshake", "malformed", b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n")
write("handshake", "too-many-headers", request(VALID + [b"X-%d: v" % i for i in range(101)]))

# receiver_utf8, raw mode: 0 (raw), limit index, cut count, cuts (u16), then the stream.
def raw(stream, limit=5, cuts=()):
    return bytes([0, limit, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts) + stream


EURO = "€".encode()
write("receiver_utf8", "text", raw(frame(1, "héllo €uro 𝄞".encode()), cuts=(3, 9)))
write("receiver_utf8", "binary", raw(frame(2, bytes(range(40)))))
write("receiver_utf8", "fragmented-text", raw(
    frame(1, b"ab" + EURO[:1], fin=False) + frame(9, b"ping") + frame(0, EURO[1:] + "𝄞".encode()[:2], fin=False)
    + frame(10, b"") + frame(0, "𝄞".encode()[2:])))
write("receiver_utf8", "invalid-utf8", raw(frame(1, b"ok\xed\xa0\x80")))
write("receiver_utf8", "incomplete-at-fin", raw(frame(1, b"ab" + EURO[:2])))
write("receiver_utf8", "close-code-reason", raw(frame(1, b"x") + close(1000, "bye ✓".encode()) + frame(1, b"after")))
write("receiver_utf8", "close-bad-reason", raw(close(4000, b"\xc3\x28")))
write("receiver_utf8", "close-1005", raw(close(1005)))
write("receiver_utf8", "text-126", raw(frame(1, b"a" * 126), cuts=(2, 4, 8)))
write("receiver_utf8", "too-big", raw(frame(2, b"z" * 1001), limit=5))
write("receiver_utf8", "len-65536-partial", raw(header(2, 65536) + masked(b"q" * 100), limit=6))
write("receiver_utf8", "unmasked", raw(frame(1, b"hi", mask=None)))
write("receiver_utf8", "structured", b"\x01" + "text ✓ 𝄞".encode() * 4)

# inflate: config (limit index 0-2, no context takeover 3, round trip 4, window bits - 8
# in 5-7), cut count, cuts (u16), then records: header (binary 0, fragments - 1 in 1-3,
# pings 4, raw: RSV1 / round trip: standalone 5, raw: RSV1 on continuations / round
# trip: a repeat count byte follows 6, close after 7), [repeat - 1], length (u16),
# fragment split fractions (fragments - 1 bytes of /255), data.
import zlib

INFLATE_LIMITS = [0, 1, 100, 1023, 1024, 4096, 32768, 65537]


def inflate_seed(records, limit=1024, no_context=False, round_trip=False, window=15, cuts=()):
    config = INFLATE_LIMITS.index(limit) | (8 if no_context else 0) | (16 if round_trip else 0) | (window - 8) << 5
    out = bytes([config, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts)
    return out + b"".join(records)


def rec(data, binary=False, fragments=1, pings=False, bit5=False, bit6=False, close=False,
        repeat=None, splits=()):
    h = (int(binary) | (fragments - 1) << 1 | int(pings) << 4 | int(bit5) << 5
         | int(bit6) << 6 | int(close) << 7)
    out = bytes([h])
    if repeat is not None:
        out += bytes([repeat - 1])
    splits = list(splits) + [255 * (i + 1) // fragments for i in range(len(splits), fragments - 1)]
    return out + struct.pack("<H", len(data)) + bytes(splits) + data


class Client:
    """A client's compressor: raw deflate, sync flush, trailer dropped (RFC 7692 7.2.1)."""

    def __init__(self, window=15, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, takeover=True):
        self.args = (level, zlib.DEFLATED, -max(window, 9), 8, strategy)
        self.takeover = takeover
        self.z = zlib.compressobj(*self.args)

    def message(self, data, final=False):
        if not self.takeover:
            self.z = zlib.compressobj(*self.args)
        out = self.z.compress(data) + self.z.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
        if final:
            self.z = zlib.compressobj(*self.args)
            return out
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def deflated(data, **kw):
    return Client(**kw).message(data)


c = Client()
write("inflate", "context-takeover", inflate_seed([
    rec(c.message("Hello, world".encode()), bit5=True),
    rec(c.message("Hello, world, again".encode()), bit5=True),
    rec(c.message(bytes(range(64)) * 3), binary=True, bit5=True, close=True),
]))
write("inflate", "no-context-takeover", inflate_seed([
    rec(deflated(b"first message"), bit5=True),
    rec(deflated(b"first message"), bit5=True),
], no_context=True, window=9))
c = Client()
write("inflate", "fragments-pings-cuts", inflate_seed([
    rec(c.message("zürich €uro 𝄞 ".encode() * 20), fragments=4, pings=True, bit5=True,
        splits=(10, 100, 200)),
    rec(b"plain between", binary=True),
    rec(c.message(b"after the plain one " * 5), fragments=2, bit5=True),
], cuts=(5, 17, 40, 41, 90)))
write("inflate", "bomb", inflate_seed([rec(deflated(b"a" * 200000, level=9), bit5=True)], limit=4096))
write("inflate", "exactly-at-limit", inflate_seed([
    rec(deflated(b"x" * 1024), bit5=True),
    rec(deflated(b"y" * 1025), bit5=True),
], limit=1024, no_context=True))
write("inflate", "limit-zero-empty", inflate_seed([
    rec(b"", bit5=True), rec(b"\x00", bit5=True), rec(deflated(b"z"), bit5=True),
], limit=0))
write("inflate", "invalid-data", inflate_seed([rec(b"\xff\xff\xff\xff", bit5=True)]))
write("inflate", "invalid-distance", inflate_seed([rec(bytes([0x63, 0x00, 0x42, 0x00]), bit5=True)]))
c = Client(takeover=True)
write("inflate", "final-block", inflate_seed([
    rec(c.message(b"ends the stream", final=True), bit5=True),
    rec(c.message(b"a new stream"), bit5=True),
]))
write("inflate", "after-final-block", inflate_seed([
    rec(deflated(b"x") + b"", bit5=True),
    rec(Client().message(b"done", final=True) + b"\x00\x01", bit5=True),
]))
write("inflate", "text-not-utf8", inflate_seed([rec(deflated(b"ok \xc3\x28"), bit5=True)]))
write("inflate", "rsv1-on-continuation", inflate_seed([
    rec(deflated(b"two frames"), fragments=2, bit5=True, bit6=True),
]))
write("inflate", "stored-fixed-dynamic", inflate_seed([
    rec(deflated(b"stored " * 10, level=0), bit5=True),
    rec(deflated(b"fixed " * 10, strategy=zlib.Z_FIXED), bit5=True),
    rec(deflated(bytes(range(256)) * 4, level=9), binary=True, bit5=True),
    rec(deflated(b"huffman only " * 10, strategy=zlib.Z_HUFFMAN_ONLY), bit5=True),
], limit=32768, no_context=True))
write("inflate", "compressed-over-limit", inflate_seed([rec(deflated(bytes(range(256)) * 2), binary=True, bit5=True)], limit=100))
write("inflate", "truncated-mid-block", inflate_seed([
    rec(deflated(b"cut short " * 30)[:-3], bit5=True),
    rec(deflated(b"next"), bit5=True),
]))

# Round trip: the records are messages for our deflater.
for window in (8, 9, 12, 15):
    write("inflate", f"roundtrip-window-{window}", inflate_seed([
        rec(b"abcdefgh" * 40 + bytes(range(256)) + b"abcdefgh" * 40, binary=True),
        rec("repeat ✓ ".encode(), repeat=200, bit6=True),
        rec(bytes(range(256)) * 3, binary=True, fragments=3, pings=True),
    ], limit=65537, round_trip=True, window=window))
write("inflate", "roundtrip-standalone", inflate_seed([
    rec(b"shared frame for every subscriber", bit5=True),
    rec(b"shared frame for every subscriber, then the context resets"),
    rec(b"", bit5=True), rec(b""),
], round_trip=True, window=10))
write("inflate", "roundtrip-no-context", inflate_seed([
    rec(b"same", repeat=50, bit6=True), rec(b"same", repeat=50, bit6=True, close=True),
], round_trip=True, no_context=True, cuts=(3, 30)))
write("inflate", "roundtrip-over-limit", inflate_seed([
    rec(b"0123456789", repeat=120, bit6=True),
    rec(b"\xff\xfe not UTF-8"),
], limit=1023, round_trip=True))
write("inflate", "roundtrip-bad-utf8", inflate_seed([rec("caf\xe9".encode("latin-1"))], round_trip=True))

# http1_request: limits (head bytes 16K/64/256/1024 in bits 0-1, request line
# 8K/16/100/1000 in 2-3, field lines 100/0/1/5 in 4-5, body unlimited/0/10/1000 in
# 6-7), cut count (0-15), cuts (u16), then the bytes of the connection.
def http(stream, limits=0, cuts=()):
    return bytes([limits, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts) + stream


def req(first, *fields, body=b""):
    return first + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


HOST = b"Host: example.com"
write("http1_request", "get", http(req(b"GET /path?q=1&r=2 HTTP/1.1", HOST, b"Accept: */*")))
write("http1_request", "pipelined", http(
    req(b"GET / HTTP/1.1", HOST)
    + req(b"POST /form HTTP/1.1", HOST, b"Content-Length: 5", body=b"hello")
    + req(b"PUT /up HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
          body=b"5\r\nhello\r\n6;ext=1;q=\"x\"\r\n world\r\n0\r\n\r\n")
    + req(b"GET /last HTTP/1.1", HOST, b"Connection: close")
    + b"GET /never HTTP/1.1\r\n", cuts=(3, 40, 41, 90, 150, 151)))
write("http1_request", "chunked-trailers", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
      body=b"a \t;x\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\nDigest: sha-256=x\r\nX-T:\r\n\r\n")))
write("http1_request", "chunked-errors", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
      body=b"10000000000000000\r\n")))
write("http1_request", "chunked-no-crlf", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
      body=b"3\r\nabcX\r\n0\r\n\r\n")))
write("http1_request", "chunked-space-no-ext", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
      body=b"3 \r\nabc\r\n0\r\n\r\n")))
write("http1_request", "cl-and-te", http(req(b"POST / HTTP/1.1", HOST, b"Content-Length: 3",
      b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n")))
write("http1_request", "cl-conflict", http(req(b"POST / HTTP/1.1", HOST, b"Content-Length: 3",
      b"Content-Length: 4", body=b"abcd")))
write("http1_request", "cl-list-equal", http(req(b"POST / HTTP/1.1", HOST, b"Content-Length: 3, 3",
      b"content-length: 3", body=b"abc") + req(b"GET / HTTP/1.1", HOST)))
write("http1_request", "te-gzip-chunked", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: gzip",
      b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")))
write("http1_request", "te-chunked-twice", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked, chunked")))
write("http1_request", "http10-te", http(req(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")))
write("http1_request", "http10-keep-alive", http(req(b"GET / HTTP/1.0", b"Connection: keep-alive")
      + req(b"GET /2 HTTP/1.0") + req(b"GET /3 HTTP/1.0")))
write("http1_request", "leading-crlf", http(b"\r\n\r\n" + req(b"GET / HTTP/1.1", HOST)))
write("http1_request", "bare-lf", http(b"GET / HTTP/1.1\nHost: x\n\n"))
write("http1_request", "obs-fold", http(req(b"GET / HTTP/1.1", HOST, b"X-Long: a", b" b")))
write("http1_request", "no-host", http(req(b"GET / HTTP/1.1", b"Accept: x")))
write("http1_request", "two-hosts", http(req(b"GET / HTTP/1.1", HOST, HOST)))
write("http1_request", "http2", http(req(b"GET / HTTP/2.0", HOST)))
write("http1_request", "request-line-414", http(req(b"GET /" + b"a" * 120 + b" HTTP/1.1", HOST), limits=2 << 2))
write("http1_request", "head-431", http(req(b"GET / HTTP/1.1", HOST, b"X-Pad: " + b"p" * 80), limits=1))
write("http1_request", "fields-431", http(req(b"GET / HTTP/1.1", HOST, b"A: 1", b"B: 2", b"C: 3", b"D: 4", b"E: 5"),
                                          limits=3 << 4))
write("http1_request", "body-413", http(req(b"POST / HTTP/1.1", HOST, b"Content-Length: 11", body=b"x" * 11)
                                        + req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                                              body=b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"), limits=2 << 6))
write("http1_request", "chunked-413", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                                               body=b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"), limits=2 << 6))
write("http1_request", "expect-upgrade", http(req(b"GET /chat HTTP/1.1", HOST, b"Expect: 100-continue",
      b"Upgrade: websocket", b"Connection: keep-alive, Upgrade", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      b"Sec-WebSocket-Version: 13")))
write("http1_request", "obs-text", http(req(b"GET /caf\xc3\xa9 HTTP/1.1", HOST, b"X-Latin: caf\xe9")))
write("http1_request", "trailers-431", http(req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
      body=b"0\r\n" + b"".join(b"T%03d: %s\r\n" % (i, b"v" * 90) for i in range(170)) + b"\r\n")))

# connection: limit (x4), read size (1 + 16 x), config (compression option index in
# bits 0-2, 0 = disabled; bit 3: the .ws() route only takes paths under /ws), then the
# requests and the frames.
def conn(body, limit=32, read=0, config=0, lines=VALID):
    return bytes([limit, read, config]) + request(lines) + body


write("connection", "echo", conn(frame(1, b"hello") + frame(2, b"\x00\x01") + close(1000, b"bye")))
write("connection", "byte-by-byte", conn(frame(1, b"ab" + EURO, fin=False) + frame(9, b"p") + frame(0, b"c") + close(1001)))
write("connection", "reads-of-17", conn(frame(9, b"x" * 125) + frame(2, b"y" * 100) + frame(8, b""), read=1))
write("connection", "too-big", conn(frame(1, b"a" * 126), limit=31))
write("connection", "fragments-at-limit", conn(frame(2, b"a" * 60, fin=False) + frame(0, b"b" * 68, fin=False)
                                               + frame(9, b"c" * 125) + frame(0, b"")))
write("connection", "bad-utf8", conn(frame(1, b"\xff")))
write("connection", "bad-close-code", conn(close(1006)))
write("connection", "reserved-opcode", conn(frame(3, b"")))
write("connection", "refused", bytes([1, 0, 0]) + request(without(b"Host")))
write("connection", "refused-post", bytes([1, 0, 0]) + request(replaced(b"GET", b"POST /chat HTTP/1.1")
                                                              + [b"Content-Length: 2"]) + b"hi")
write("connection", "refused-head", bytes([1, 0, 0]) + b"GET / HTTP/1.1\nHost: x\n\n")

# The HTTP phase first: requests outside /ws get the 404 (bodies read and dropped),
# then the upgrade.
WS_LINES = replaced(b"GET", b"GET /ws/chat HTTP/1.1")
write("connection", "http-then-upgrade", bytes([32, 0, 8])
      + req(b"GET /index.html HTTP/1.1", HOST)
      + req(b"POST /form HTTP/1.1", HOST, b"Content-Length: 5", body=b"hello")
      + req(b"PUT /up HTTP/1.1", HOST, b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n")
      + request(WS_LINES) + frame(1, b"hi") + close(1000))
write("connection", "http-close", bytes([32, 2, 8]) + req(b"GET / HTTP/1.0", b"Host: x") + request(WS_LINES))
write("connection", "upgrade-wrong-path", bytes([32, 0, 8]) + request(VALID) + request(WS_LINES))
write("connection", "upgrade-body-as-frames", conn(frame(2, b"after"),
      lines=VALID + [b"Content-Length: 3"]))

# permessage-deflate negotiated: compressed frames (RSV1) from a client compressor.
DEFLATE_LINES = VALID + [b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
c = Client()
write("connection", "deflate", conn(
    frame(1, c.message("compressed ✓".encode()), rsv=4)
    + frame(2, c.message(bytes(range(100)) * 2), rsv=4, fin=False) + frame(9, b"p") + frame(0, b"", fin=True)
    + frame(1, b"plain") + close(1000, b"bye"),
    limit=255, config=6, lines=DEFLATE_LINES))
write("connection", "deflate-no-context", conn(
    frame(1, deflated(b"one"), rsv=4) + frame(1, deflated(b"two"), rsv=4),
    config=2, lines=VALID + [b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover, x-other"]))
write("connection", "deflate-bomb", conn(frame(2, deflated(b"\0" * 100000, level=9), rsv=4),
                                         limit=64, config=6, lines=DEFLATE_LINES))
write("connection", "deflate-disabled-rsv1", conn(frame(1, deflated(b"x"), rsv=4), config=0, lines=DEFLATE_LINES))
write("connection", "deflate-bad-data", conn(frame(1, b"\xff\xff", rsv=4), config=3, lines=DEFLATE_LINES, read=3))
