"""Record real traffic from real clients, take the upstream away, replay."""
import concurrent.futures
import gzip
import json
import os
import subprocess

import requests

from conftest import curl, raw_exchange


def split_curl(out: bytes):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], lines[1:], body


def test_curl_record_stop_replay_byte_identical(server, upstream):
    server.cli("record", "demo")
    urls = ["/counter", "/echo?a=1&b=2", "/chunked", "/binary", "/cookies"]
    recorded = [curl(server.proxy_url, upstream.url(u)) for u in urls]
    for r in recorded:
        assert r.returncode == 0, r.stderr
    out = server.cli("stop").stdout
    assert "saved to" in out and server.cassette_path("demo").exists()
    upstream.close()  # the network is gone

    server.cli("replay", "demo")
    for u, rec in zip(urls, recorded):
        rep = curl(server.proxy_url, upstream.url(u))
        assert rep.returncode == 0, rep.stderr
        rec_status, rec_headers, rec_body = split_curl(rec.stdout)
        rep_status, rep_headers, rep_body = split_curl(rep.stdout)
        assert rep_status == rec_status
        assert rep_body == rec_body, u
        # Headers come back in recorded order (secrets redacted).
        names = lambda hs: [h.split(b":")[0].lower() for h in hs]
        assert names(rep_headers) == names(rec_headers), u
    status = server.cli("status").stdout
    assert "replayed 5" in status and "missed 0" in status


def test_requests_with_http_proxy_env_and_post_bodies(server, upstream):
    env_proxies = {"http": server.proxy_url}
    server.cli("record", "posts")
    s = requests.Session()
    r1 = s.post(upstream.url("/echo"), data=b"first body", proxies=env_proxies)
    r2 = s.post(upstream.url("/echo"), data=b"second body", proxies=env_proxies)
    r3 = s.put(upstream.url("/echo"), json={"k": [1, 2]}, proxies=env_proxies)
    server.cli("stop")
    upstream.close()
    server.cli("replay", "posts")
    # HTTP_PROXY from the environment, as an unmodified client would use it.
    code = (
        "import requests,sys;"
        "b=[requests.post(sys.argv[1],data=b'second body').content,"
        "requests.post(sys.argv[1],data=b'first body').content,"
        "requests.put(sys.argv[1],json={'k':[1,2]}).content];"
        "sys.stdout.buffer.write(b'\\0'.join(b))")
    env = dict(os.environ, HTTP_PROXY=server.proxy_url, NO_PROXY="", no_proxy="")
    out = subprocess.run([os.sys.executable, "-c", code, upstream.url("/echo")],
                         capture_output=True, env=env, timeout=30, check=True).stdout
    assert out.split(b"\0") == [r2.content, r1.content, r3.content]


def test_identical_requests_replay_in_order_then_last_repeats(server, upstream):
    server.cli("record", "seq")
    bodies = [requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}).content
              for _ in range(3)]
    assert len(set(bodies)) == 3
    server.cli("stop")
    upstream.close()
    server.cli("replay", "seq")
    got = [requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}).content
           for _ in range(5)]
    assert got == bodies + [bodies[-1], bodies[-1]]


def test_exhausted_error_policy(server, upstream):
    server.cli("record", "once")
    requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url})
    server.cli("stop")
    server.cli("replay", "once", "--on-exhausted", "error")
    p = {"http": server.proxy_url}
    assert requests.get(upstream.url("/counter"), proxies=p).status_code == 200
    r = requests.get(upstream.url("/counter"), proxies=p)
    assert r.status_code == 599
    assert r.headers["X-Matgto-Error"] == "exhausted"
    # The upstream is still up: proof that nothing was forwarded.
    assert json.loads(r.content)["error"] == "exhausted"


def test_miss_explains_closest_and_never_forwards(server, upstream):
    server.cli("record", "m")
    requests.get(upstream.url("/echo?page=1"), proxies={"http": server.proxy_url})
    requests.post(upstream.url("/echo"), data=b"abc", proxies={"http": server.proxy_url})
    server.cli("stop")
    before = requests.get(upstream.url("/counter")).content  # direct
    server.cli("replay", "m")
    r = requests.get(upstream.url("/echo?page=2"), proxies={"http": server.proxy_url})
    assert r.status_code == 599
    assert r.headers["X-Matgto-Error"] == "no-match"
    body = r.json()
    assert body["miss"]["url"] == upstream.url("/echo?page=2")
    closest = body["miss"]["closest"][0]
    assert closest["url"] == upstream.url("/echo?page=1")
    assert closest["differences"] == [{"field": "query", "recorded": "page=1", "live": "page=2"}]
    assert "differs in query" in body["message"]
    after = requests.get(upstream.url("/counter")).content
    assert int(after.split()[1]) == int(before.split()[1]) + 1, "the miss reached the upstream"
    status = server.cli("status").stdout
    assert "missed 1" in status and "/echo?page=2" in status and "query" in status


def test_secrets_never_reach_disk_and_replay_still_matches(server, upstream):
    server.cli("record", "secret")
    p = {"http": server.proxy_url}
    r = requests.get(upstream.url("/cookies"), proxies=p,
                     headers={"Authorization": "Bearer tok-123456", "X-Api-Key": "key-98765",
                              "Cookie": "sid=cookie-abcdef; theme=light"})
    assert "s3cr3t" in r.headers["Set-Cookie"]
    server.cli("stop")
    data = server.cassette_path("secret").read_bytes()
    for secret in [b"tok-123456", b"key-98765", b"cookie-abcdef", b"s3cr3t"]:
        assert secret not in data, secret
    assert b"Bearer [REDACTED]" in data and b"sid=[REDACTED]" in data
    server.cli("replay", "secret")
    r2 = requests.get(upstream.url("/cookies"), proxies=p,
                      headers={"Authorization": "Bearer other-token"})
    assert r2.status_code == 200 and r2.content == b"cookies"
    raw = raw_exchange(server.proxy, f"GET {upstream.url('/cookies')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert raw.count(b"Set-Cookie:") == 2
    assert b"session=[REDACTED]; Path=/; HttpOnly" in raw
    assert raw.index(b"X-Order-B") < raw.index(b"X-Order-A")


def test_binary_gzip_body_kept_byte_exact(server, upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    server.cli("record", "bin")
    r = requests.get(upstream.url("/binary"), proxies={"http": server.proxy_url}, stream=True)
    wire = r.raw.read(decode_content=False)
    server.cli("stop")
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("bin").read_bytes())
    assert c.schema_version == 1 and c.name == "bin" and c.complete
    rec = c.interactions[0].http
    assert rec.response.body == wire  # still gzip, as sent
    assert gzip.decompress(rec.response.body).startswith(bytes(range(256)))
    assert rec.timing.total.nanos > 0 or rec.timing.total.seconds > 0
    upstream.close()
    server.cli("replay", "bin")
    r2 = requests.get(upstream.url("/binary"), proxies={"http": server.proxy_url}, stream=True)
    assert r2.raw.read(decode_content=False) == wire


def test_head_204_304_have_no_body(server, upstream):
    server.cli("record", "nobody")
    for method, path in [("HEAD", "/counter"), ("GET", "/nocontent"), ("GET", "/notmodified")]:
        requests.request(method, upstream.url(path), proxies={"http": server.proxy_url})
    server.cli("stop")
    upstream.close()
    server.cli("replay", "nobody")
    # Pipelined on one connection: a stray body would corrupt the next response.
    req = "".join(f"{m} {upstream.url(p)} HTTP/1.1\r\nHost: h\r\n\r\n" for m, p in
                  [("HEAD", "/counter"), ("GET", "/nocontent"), ("GET", "/notmodified")])
    req += f"GET {upstream.url('/nocontent')} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    raw = raw_exchange(server.proxy, req.encode())
    statuses = [line for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 204 No Content",
                        b"HTTP/1.1 304 Not Modified", b"HTTP/1.1 204 No Content"], raw
    assert raw.endswith(b"\r\n\r\n")


def test_chunked_request_and_response(server, upstream):
    server.cli("record", "chunks")
    def gen():
        yield b"part-one;"
        yield b"part-two"
    r = requests.post(upstream.url("/echo"), data=gen(), proxies={"http": server.proxy_url})
    assert json.loads(r.content)["body"] == "part-one;part-two"
    c = requests.get(upstream.url("/chunked"), proxies={"http": server.proxy_url})
    server.cli("stop")
    upstream.close()
    server.cli("replay", "chunks")
    r2 = requests.post(upstream.url("/echo"), data=gen(), proxies={"http": server.proxy_url})
    assert r2.content == r.content
    c2 = requests.get(upstream.url("/chunked"), proxies={"http": server.proxy_url})
    assert c2.content == c.content and c2.headers.get("Transfer-Encoding") == "chunked"


def test_keep_alive_and_pipelining(server, upstream):
    server.cli("record", "pipe")
    req = "".join(f"GET {upstream.url('/counter')}?i={i} HTTP/1.1\r\nHost: h\r\n\r\n" for i in range(5))
    req += f"GET {upstream.url('/counter')}?i=5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    raw = raw_exchange(server.proxy, req.encode())
    assert raw.count(b"HTTP/1.1 200 OK") == 6
    server.cli("stop")
    upstream.close()
    server.cli("replay", "pipe")
    assert raw_exchange(server.proxy, req.encode()) == raw


def test_concurrent_clients_record_and_replay(server, upstream):
    server.cli("record", "conc")
    p = {"http": server.proxy_url}
    paths = [f"/echo?id={i}" for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        recorded = dict(zip(paths, pool.map(lambda u: requests.get(upstream.url(u), proxies=p).content, paths)))
    out = server.cli("stop").stdout
    assert "recorded 40" in out
    upstream.close()
    server.cli("replay", "conc")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        backwards = paths[::-1]
        replayed = dict(zip(backwards, pool.map(
            lambda u: requests.get(upstream.url(u), proxies=p).content, backwards)))
    assert replayed == recorded
