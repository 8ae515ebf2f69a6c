"""A cassette of 50,000 interactions, generated here, replays the right
item for every request: the loaded cassette is a mapped image indexed by
request, and each exchange is parsed the first time it is used
(server/cassette/image.h). No timing is asserted."""
from __future__ import annotations

import gzip
import random

import requests

ITEMS = 50_000


def write_large(cassette_pb2, path, items=ITEMS):
    c = cassette_pb2.Cassette(schema_version=1, name="large", complete=True)
    for i in range(items):
        it = c.interactions.add(index=i)
        req = it.http.request
        req.http_version = "HTTP/1.1"
        if i % 10 == 3:
            # Matched by body: two POSTs to one URL that differ in body only.
            req.method = "POST"
            req.url = f"http://big.test/form/{i // 10}"
            req.body = f"n={i}".encode()
        else:
            req.method = "GET"
            req.url = f"http://big.test/item/{i}"
        resp = it.http.response
        resp.status, resp.reason, resp.http_version = 200, "OK", "HTTP/1.1"
        body = f"item {i} ".encode() * (1 + i % 7)
        if i % 1000 == 5:
            body = gzip.compress(body, mtime=0)
            resp.headers.add(name="Content-Encoding", value="gzip")
        resp.headers.add(name="Content-Type", value="text/plain")
        resp.headers.add(name="Content-Length", value=str(len(body)))
        if i % 100 == 7:
            resp.body_text = body.decode()  # as a JSON cassette saved in binary
        else:
            resp.body = body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(c.SerializeToString())


def expected(i: int) -> bytes:
    return f"item {i} ".encode() * (1 + i % 7)


def test_a_large_cassette_replays_the_right_items(server, proto_modules):
    write_large(proto_modules[0], server.cassette_path("large"))
    server.cli("replay", "large")
    s = requests.Session()
    s.proxies = {"http": server.proxy_url}
    rng = random.Random(12)
    picks = rng.sample(range(ITEMS), 300) + [0, ITEMS - 1, 5, 7, 13]
    for i in picks:
        if i % 10 == 3:
            r = s.post(f"http://big.test/form/{i // 10}", data=f"n={i}")
        else:
            r = s.get(f"http://big.test/item/{i}")
        assert r.status_code == 200, (i, r.status_code, r.text[:500])
        assert r.content == expected(i), i  # gzip ones decoded by requests
    # A miss is explained against the closest recorded requests.
    r = s.get("http://big.test/item/none")
    assert r.status_code == 599
    assert "http://big.test/item/" in r.text
    status = server.cli("status").stdout
    assert "large" in status
