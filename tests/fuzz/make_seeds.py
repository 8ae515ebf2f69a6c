#!/usr/bin/env python3
"""Writes the hand-made seeds of the committed fuzz corpus (tests/fuzz/corpus/<target>/
seed-*). Run from anywhere; needs `protoc` (Debian's protobuf-compiler) for the binary
cassette and journal seeds. Inputs libFuzzer found later (minimised with -merge) sit next
to these under their SHA-1 names; this script never touches them.

    tests/fuzz/make_seeds.py
"""
import os
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"


def put(target: str, name: str, data: bytes):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def encode(message: str, text: str) -> bytes:
    """A protobuf message from its text format, via protoc --encode."""
    return subprocess.run(
        ["protoc", f"-I{ROOT / 'proto'}", "-I/usr/include", f"--encode=matgto.v1.{message}",
         "matgto/v1/cassette.proto"], input=text.encode(), capture_output=True, check=True).stdout


def varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


# --- request: what a client sends a forward proxy
requests = {
    "get": b"GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "post-length": b"POST http://h:8080/p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    "put-chunked": b"PUT http://[::1]:9/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;ext=1\r\nhello\r\n0\r\nTrailer-A: x\r\n\r\n",
    "ws-upgrade": b"GET ws://h/chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "connect-v6": b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
                  b"Proxy-Authorization: Basic cy0wMTIzOm1hdGd0bw==\r\n\r\n",
    "http10-connection": b"GET http://a/ HTTP/1.0\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\n\r\n",
    "proxy-auth": b"GET https://api.example.com:8443/v1/users?id=7&token=abc HTTP/1.1\r\n"
                  b"Host: api.example.com:8443\r\nProxy-Authorization: Basic c2Vzc2lvbjp4\r\n"
                  b"Authorization: Bearer abc\r\nCookie: a=1; b=2\r\nAccept-Encoding: gzip\r\n\r\n",
    "percent-url": b"DELETE http://User:Pw@EXAMPLE.com:80/%7Efoo/../b%20c?q=%25&r#frag HTTP/1.1\r\n"
                   b"Host: other.example\r\nContent-Length: 0\r\n\r\n",
}
for k, v in requests.items():
    put("request", k, v)


# --- websocket: client frames (masked) after the fixed upgrade
def frame(opcode: int, payload: bytes, fin=True, mask=b"\x01\x02\x03\x04", rsv=0) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


put("websocket", "text", frame(1, b"hello") + frame(8, struct.pack(">H", 1000) + b"bye"))
put("websocket", "binary-ping", frame(2, bytes(range(200))) + frame(9, b"p") + frame(10, b"q"))
put("websocket", "fragmented", frame(1, b"he", fin=False) + frame(9, b"mid") + frame(0, b"llo")
    + frame(8, struct.pack(">H", 1001)))
put("websocket", "utf8", frame(1, "żółw 🐢".encode()) + frame(8, b""))
put("websocket", "long", frame(2, b"x" * 300) + frame(1, b"y" * 5000))

# --- cassettes: the golden files and a WebSocket one
golden_pb = (ROOT / "tests/testdata/cassette_v1.pb").read_bytes()
golden_json = (ROOT / "tests/testdata/cassette_v1.json").read_bytes()
put("cassette_binary", "golden-v1", golden_pb)
ws_cassette = """
schema_version: 1 name: "ws" complete: true
interactions { index: 0 http { request { method: "POST" url: "http://a/x?y=1" http_version: "HTTP/1.1"
  headers { name: "Content-Type" value: "application/json" } body: "{\\"a\\":1}" }
  response { status: 200 reason: "OK" http_version: "HTTP/1.1"
  headers { name: "Set-Cookie" value: "s=1" } headers { name: "X-Bin" raw_value: "\\377" } body: "\\037\\213" } } }
interactions { index: 1 websocket { upgrade_request { method: "GET" url: "ws://a/chat" }
  upgrade_response { status: 101 reason: "Switching Protocols" }
  messages { direction: CLIENT_TO_SERVER kind: WS_TEXT payload: "hi" since_open { nanos: 1000 } }
  messages { direction: SERVER_TO_CLIENT kind: WS_BINARY payload: "\\000\\001" }
  close { initiator: SERVER_TO_CLIENT code: 1000 reason: "done" } } }
options { }
"""
put("cassette_binary", "ws", encode("Cassette", ws_cassette))
put("cassette_json", "golden-v1", golden_json)
put("cassette_json", "small",
    b'{"schemaVersion":1,"name":"j","complete":true,"interactions":[{"http":{"request":'
    b'{"method":"GET","url":"http://a/","headers":[{"name":"A","raw_value":"/w=="}]},'
    b'"response":{"status":200,"body_text":"x"}}},{"websocket":{"messages":[{"kind":"WS_TEXT",'
    b'"payload_text":"hi"}],"close":{"code":1000}}}]}')

# --- journal: length-prefixed JournalEntry records, the last one cut short
entries = [
    encode("JournalEntry", 'begin { name: "j" options { } }'),
    encode("JournalEntry", 'interaction { index: 0 http { request { method: "GET" url: "http://a/" }'
                           ' response { status: 204 } } }'),
    encode("JournalEntry", 'interaction { index: 1 websocket { upgrade_request { method: "GET" '
                           'url: "ws://a/" } upgrade_response { status: 101 } } }'),
    encode("JournalEntry", 'ws_message { interaction_index: 1 message { direction: CLIENT_TO_SERVER '
                           'kind: WS_TEXT payload: "x" } }'),
    encode("JournalEntry", 'ws_close { interaction_index: 1 close { code: 1000 } }'),
]
journal = b"".join(varint(len(e)) + e for e in entries)
put("journal", "complete", journal)
put("journal", "torn", journal + varint(40) + entries[1][:10])

# --- har: one from a browser-like tool, one as matgto exports
put("har", "browser", b"""{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},
"entries":[{"startedDateTime":"2026-01-01T00:00:00.000Z","time":12.5,
"request":{"method":"POST","url":"https://api.example.com/login?x=1","httpVersion":"h2",
"headers":[{"name":":authority","value":"api.example.com"},{"name":"content-type","value":"application/json"}],
"queryString":[{"name":"x","value":"1"}],"postData":{"mimeType":"application/json","text":"{\\"password\\":\\"p\\"}"},
"headersSize":-1,"bodySize":16},
"response":{"status":200,"statusText":"","httpVersion":"h2","headers":[{"name":"content-encoding","value":"gzip"},
{"name":"content-length","value":"999"}],"content":{"size":2,"mimeType":"application/json","text":"{}"},
"redirectURL":"","headersSize":-1,"bodySize":20},"cache":{},"timings":{"send":0,"wait":10,"receive":2.5}},
{"request":{"method":"GET","url":"http://b/"},"response":{"status":0}}]}}""")
put("har", "matgto", b"""{"log":{"version":"1.2","creator":{"name":"matgto","version":"0.1.0"},
"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":1,"request":{"method":"GET",
"url":"http://a/b","httpVersion":"HTTP/1.1","headers":[{"name":"Host","value":"a"}],"queryString":[],
"headersSize":-1,"bodySize":0},"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1",
"headers":[{"name":"Content-Encoding","value":"gzip"}],"content":{"size":3,"mimeType":"application/octet-stream",
"text":"H4sIAAAAAAAAA0tMBAAAAP//","encoding":"base64"},"redirectURL":"","headersSize":-1,"bodySize":3},
"cache":{},"timings":{"send":0,"wait":1,"receive":0}}]}}""")

# --- redactor: selector byte, URL line, header lines, blank line, body (targets.h)
def redact_seed(ctype: int, coding: int, url: bytes, headers: list[bytes], body: bytes) -> bytes:
    return bytes([ctype | (coding << 2)]) + b"\n".join([url, *headers]) + b"\n\n" + body


import gzip, zlib  # noqa: E401
put("redactor", "json", redact_seed(0, 0, b"http://a/login?token=t0k&x=1",
    [b"Authorization: Bearer abc", b"Cookie: a=1; b=2"],
    b'{"password":"p","user":{"token":"t","name":"n"},"items":[{"secret":1}],"a/b":"c","k":"sk_live1234"}'))
put("redactor", "form", redact_seed(1, 0, b"https://a/x?api_key=1&sig=2",
    [b"X-Api-Key: k", b"Set-Cookie: sid=1; Path=/; HttpOnly"], b"password=p&client_secret=s&ok=1&x=secret-42"))
put("redactor", "gzip-json", redact_seed(0, 1, b"http://a/", [], gzip.compress(b'{"password":"p"}', mtime=0)))
put("redactor", "deflate-form", redact_seed(1, 2, b"http://a/", [], zlib.compress(b"password=p")))
put("redactor", "two-codings", redact_seed(0, 6, b"http://a/", [],
    gzip.compress(zlib.compress(b'{"password":"p"}'), mtime=0)))
put("redactor", "text", redact_seed(2, 0, b"http://a/?token=%20x", [b"Proxy-Authorization: Basic eA=="],
    b"key sk_abcdef and SECRET-9"))
print("seeds written under", CORPUS)
