"""Operations: the log (text and JSON lines), the admin port's /metrics,
/healthz and /readyz, and the live event stream (`matgto tail`), all with
real traffic through the proxy."""
import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import MATGTO_BIN, curl, free_port, wait_for

SECRETS = ("s3cr3t-header", "s3cr3t-query", "s3cr3t-miss")


def admin_url(server) -> str:
    return "http://" + json.loads(server.ready.read_text())["admin"]


def json_lines(server):
    lines = [l for l in server.output().splitlines() if l.strip()]
    # Every line of a JSON log is one JSON object.
    return [json.loads(l) for l in lines]


def drive_record_then_replay(server, upstream):
    """Records one request carrying secrets, then replays it and misses."""
    server.cli("record", "ops")
    r = curl(server.proxy_url, upstream.url("/echo?token=s3cr3t-query&page=1"),
             "-H", "Authorization: Bearer s3cr3t-header")
    assert r.returncode == 0, r.stderr
    server.cli("replay", "ops")
    hit = curl(server.proxy_url, upstream.url("/echo?token=s3cr3t-query&page=1"),
               "-H", "Authorization: Bearer s3cr3t-header")
    assert b" 200 " in hit.stdout.split(b"\r\n")[0]
    miss = curl(server.proxy_url, upstream.url("/counter?token=s3cr3t-miss"),
                "-H", "Authorization: Bearer s3cr3t-header")
    assert b" 599 " in miss.stdout.split(b"\r\n")[0]


def test_json_log_has_a_line_per_exchange_a_warn_per_miss_and_no_secret(matgto, upstream):
    server = matgto("--log-format", "json")
    drive_record_then_replay(server, upstream)

    def exchanges():
        return [l for l in json_lines(server) if l["event"] == "exchange"]

    wait_for(lambda: len(exchanges()) >= 3, what="three exchange lines")
    recorded, replayed, missed = exchanges()[:3]
    for line in (recorded, replayed, missed):
        assert {"time", "level", "event", "msg", "session", "cassette", "mode", "method",
                "url", "status", "result", "duration_us", "bytes_in",
                "bytes_out"} <= line.keys(), line
        assert line["level"] == "info" and line["session"] == "default"
        assert line["cassette"] == "ops" and line["method"] == "GET"
    assert (recorded["mode"], recorded["result"], recorded["status"]) == ("record", "recorded", 200)
    assert (replayed["mode"], replayed["result"], replayed["status"]) == ("replay", "replayed", 200)
    assert (missed["result"], missed["status"], missed["error"]) == ("missed", 599, "no-match")
    assert recorded["url"] == upstream.url("/echo?token=[REDACTED]&page=[REDACTED]")
    assert recorded["bytes_out"] > 0

    misses = [l for l in json_lines(server) if l["event"] == "miss"]
    assert len(misses) == 1
    assert misses[0]["level"] == "warn" and misses[0]["reason"] == "no-match"
    assert "no recorded interaction in cassette 'ops'" in misses[0]["msg"]
    assert "Closest: interaction #0" in misses[0]["msg"]

    sessions = [l for l in json_lines(server) if l["event"] == "session"]
    assert any(l["msg"].startswith("session default uses cassette 'ops' (record)") for l in sessions)
    ended = [l for l in sessions if "saved_path" in l]
    assert ended and ended[0]["reason"] == "replaced"
    server.stop()
    log = server.output()
    assert json_lines(server)[-1]["msg"] == "stopped"
    for secret in SECRETS:
        assert secret not in log, secret


def test_warn_level_keeps_misses_and_drops_exchange_lines(matgto, upstream):
    server = matgto("--log-level", "warn")
    drive_record_then_replay(server, upstream)
    wait_for(lambda: "no recorded interaction" in server.output(), what="the miss line")
    out = server.output()
    assert " warn matgto: no recorded interaction in cassette 'ops'" in out
    assert " info " not in out  # no exchange, session or start line


def metric(text: str, name: str, **labels) -> float:
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_real_traffic_and_pass_promtool(matgto, upstream):
    server = matgto("--admin-port", "0")
    admin = admin_url(server)
    before = requests.get(admin + "/metrics", timeout=5)
    assert before.status_code == 200
    assert before.headers["Content-Type"].startswith("text/plain; version=0.0.4")

    drive_record_then_replay(server, upstream)
    # An upstream that refuses: an error of kind upstream-unreachable.
    server.cli("use", "pt", "--mode", "passthrough")
    refused = curl(server.proxy_url, f"http://127.0.0.1:{free_port()}/x")
    assert b" 502 " in refused.stdout.split(b"\r\n")[0]

    text = requests.get(admin + "/metrics", timeout=5).text
    assert metric(text, "matgto_exchanges_total", mode="record", result="recorded") == 1
    assert metric(text, "matgto_exchanges_total", mode="replay", result="replayed") == 1
    assert metric(text, "matgto_exchanges_total", mode="replay", result="missed") == 1
    assert metric(text, "matgto_exchanges_total", mode="passthrough", result="error") == 1
    assert metric(text, "matgto_misses_total", reason="no-match") == 1
    assert metric(text, "matgto_upstream_errors_total", kind="upstream-unreachable") == 1
    assert metric(text, "matgto_request_duration_seconds_count") == 4
    assert metric(text, "matgto_upstream_duration_seconds_count") == 1
    assert metric(text, "matgto_cassette_save_duration_seconds_count") == 1
    assert metric(text, "matgto_cassette_load_size_bytes_count") == 1
    assert metric(text, "matgto_sent_bytes_total") > 0
    assert metric(text, "matgto_open_sessions") == 1
    for secret in SECRETS:
        assert secret not in text

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; scripts/install-deps.sh test)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def grpc_health(control: str) -> int:
    """grpc.health.v1.Health/Check for the whole server: 1 SERVING, 2 NOT_SERVING."""
    with grpc.insecure_channel(control) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        reply = check(b"", timeout=5)
    return reply[1] if len(reply) >= 2 else 0


def test_readyz_is_503_and_grpc_health_not_serving_while_draining(matgto, upstream):
    server = matgto("--admin-port", "0", "--shutdown-grace", "10")
    admin = admin_url(server)
    assert requests.get(admin + "/healthz", timeout=5).status_code == 200
    assert requests.get(admin + "/readyz", timeout=5).status_code == 200
    assert grpc_health(server.control) == 1
    server.cli("record", "drain")
    # An exchange in flight keeps the server draining for ~3 s.
    slow = threading.Thread(target=curl, args=(server.proxy_url, upstream.url("/slow?s=3")))
    slow.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)

    def draining():
        try:
            r = requests.get(admin + "/readyz", timeout=2)
        except requests.ConnectionError:
            return None
        # (A 503 Response is falsy: return its text.)
        return r.text if r.status_code == 503 else None

    assert "draining" in wait_for(draining, timeout=5, what="/readyz 503")
    assert requests.get(admin + "/healthz", timeout=2).status_code == 200
    assert grpc_health(server.control) == 2
    slow.join()
    assert server.proc.wait(timeout=20) == 0


def test_tail_json_shows_an_exchange_and_an_explained_miss(server, upstream):
    server.cli("record", "ops")
    curl(server.proxy_url, upstream.url("/echo?page=1"))
    server.cli("replay", "ops")
    tail = subprocess.Popen([MATGTO_BIN, "--server", server.control, "tail", "--json",
                             "--cassette", "ops"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "following events" in tail.stderr.readline()
        curl(server.proxy_url, upstream.url("/echo?page=1"))
        curl(server.proxy_url, upstream.url("/echo?page=2"))
        events = []
        reader = threading.Thread(target=lambda: events.extend(
            json.loads(tail.stdout.readline()) for _ in range(3)), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert len(events) == 3, events
    finally:
        tail.terminate()
        tail.wait(timeout=10)
    hit, miss, missed = events
    assert hit["exchange"]["result"] == "RESULT_REPLAYED"
    assert hit["exchange"]["url"] == upstream.url("/echo?page=[REDACTED]")
    assert miss["miss"]["miss"]["reason"] == "no-match"
    assert "which differs in query" in miss["miss"]["explanation"]
    assert missed["exchange"]["result"] == "RESULT_MISSED"
    assert missed["exchange"]["status"] == 599


def test_admin_page_api_and_live_events(matgto, upstream):
    """The web page's data (not a browser test: see server/admin/README.md)."""
    server = matgto("--admin-port", "0")
    admin = admin_url(server)
    page = requests.get(admin + "/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert '<script src="page.js">' in page.text
    script = requests.get(admin + "/page.js", timeout=5)
    assert script.status_code == 200 and 'fetch("events"' in script.text
    server.cli("record", "page")
    with requests.get(admin + "/events?cassette=page", stream=True, timeout=10) as events:
        lines = events.iter_lines(chunk_size=1, decode_unicode=True)
        assert next(lines) == ": subscribed"
        curl(server.proxy_url, upstream.url("/echo?token=s3cr3t-query"))
        data = None
        for line in lines:
            if line.startswith("data: ") and '"exchange"' in line:
                data = json.loads(line[len("data: "):])
                break
    assert data["exchange"]["result"] == "RESULT_RECORDED"
    assert "s3cr3t" not in json.dumps(data)
    sessions = requests.get(admin + "/api/sessions", timeout=5).json()["sessions"]
    assert sessions[0]["cassette"] == "page" and sessions[0]["recorded"] == "1"
    server.cli("stop")
    listed = requests.get(admin + "/api/cassettes", timeout=5).json()["cassettes"]
    assert [c["name"] for c in listed] == ["page"]
    cassette = requests.get(admin + "/api/cassettes/page", timeout=5).json()
    assert cassette["interactions"][0]["http"]["request"]["method"] == "GET"
    assert requests.get(admin + "/api/cassettes/nope", timeout=5).status_code == 404


def test_threads_are_named_for_top_gdb_and_perf(matgto, upstream):
    # `top -H`, `ps -L`, gdb and perf show these names; a thread that
    # starts without one shows as "matgto".
    server = matgto("--admin-port", "0")  # the fixture runs --threads 2
    server.cli("record", "names")
    r = requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}, timeout=10)
    assert r.status_code == 200

    def names():
        out = []
        for comm in Path(f"/proc/{server.proc.pid}/task").glob("*/comm"):
            try:
                out.append(comm.read_text().strip())
            except OSError:
                pass  # the thread ended meanwhile
        return sorted(out)

    seen = names()
    for expected in ("matgto-io-0", "matgto-io-1", "matgto-journal", "matgto-admin", "matgto-leases"):
        assert expected in seen, seen
    server.cli("stop")
    # The journal's writer ends with its recording.
    wait_for(lambda: "matgto-journal" not in names(), timeout=10, what="journal thread to end")
