"""The pytest plugin, run for real in subprocesses through its pytest11 entry point."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from conftest import RunningServer, Upstream

INNER = '''
import os

import pytest
import requests

import matgto
from matgto.pytest_plugin import server_address


def fetch(session, path):
    http = requests.Session()
    http.trust_env = False
    r = http.get(os.environ["UPSTREAM_URL"] + path, proxies=session.proxies(), timeout=10)
    with open(os.environ["MATGTO_TEST_OUT"], "a") as out:
        out.write(f"{session.name}|{session.mode.name}|{r.status_code}|{r.text.strip()}\\n")


@pytest.mark.matgto
def test_marked(matgto_cassette):
    fetch(matgto_cassette, "/marked")


@pytest.mark.matgto
@pytest.mark.parametrize("word", ["a b/c"])
def test_param(matgto_cassette, word):
    fetch(matgto_cassette, "/param")


@pytest.mark.matgto(name="explicit/shared")
def test_marker_alone(request):
    # Not given the fixture: find the test's own session by its owner.
    with matgto.Client(server_address(request.config)) as client:
        (info,) = [s for s in client.status().sessions if s.owner.endswith(" " + request.node.nodeid)]
        assert info.owner.startswith("pytest pid %d " % os.getpid())
        session = matgto.CassetteSession(client, info)
        fetch(session, "/alone")
'''


def _lines(path: Path) -> List[List[str]]:
    return sorted(line.split("|") for line in path.read_text().splitlines())


def test_plugin_records_then_replays(
    pytester: pytest.Pytester,
    server: RunningServer,
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.txt"
    monkeypatch.setenv("UPSTREAM_URL", upstream.url)
    monkeypatch.setenv("MATGTO_TEST_OUT", str(out))
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makepyfile(test_inner=INNER)

    first = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    first.assert_outcomes(passed=3)
    recorded = _lines(out)
    assert [(name, mode, status) for name, mode, status, _ in recorded] == [
        ("explicit/shared", "RECORD", "200"),
        ("test_inner/test_marked", "RECORD", "200"),
        # "/" is refused in a name: the id gets the FNV-1a suffix of the node id.
        ("test_inner/test_param[a_b_c],h5200858c", "RECORD", "200"),
    ]
    assert upstream.calls == 3
    assert len(list(server.cassette_dir.rglob("*"))) >= 3

    upstream.stop()
    out.unlink()
    monkeypatch.delenv("MATGTO_SERVER")  # second run: address from the command line
    second = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--matgto-server", server.control)
    second.assert_outcomes(passed=3)
    replayed = _lines(out)
    assert [mode for _, mode, _, _ in replayed] == ["REPLAY"] * 3
    assert [(n, s, body) for n, _, s, body in replayed] == [(n, s, body) for n, _, s, body in recorded]
    assert upstream.calls == 3


def test_plugin_options_and_bad_marker(
    pytester: pytest.Pytester, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makepyfile(
        test_bad='''
import pytest

@pytest.mark.matgto(bogus=1)
def test_bad():
    pass

@pytest.mark.matgto(mode="replay")
def test_forced_replay_of_missing_cassette():
    pass

@pytest.mark.matgto(on_miss="sometimes")
def test_bad_option_value():
    pass
'''
    )
    helped = pytester.runpytest_subprocess("--help")
    helped.stdout.fnmatch_lines(["*--matgto-server=HOST:PORT*", "*--matgto-mode*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(
        ["@pytest.mark.matgto(name=None, mode='auto', *, on_exhausted=None, repeat=None, on_miss=None, match=None*"]
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*bogus*", "*CassetteNotFoundError*", "*on_miss policy 'sometimes'*"])


RULES = '''
import json
import os

import pytest
import requests

from matgto import MatchRules, RedactRules


def post(session, body):
    http = requests.Session()
    http.trust_env = False
    r = http.post(os.environ["UPSTREAM_URL"] + "/order?token=SECRET", data=json.dumps(body),
                  proxies=session.proxies(), timeout=10)
    with open(os.environ["MATGTO_TEST_OUT"], "a") as out:
        out.write(f"{session.mode.name}|{r.status_code}|{r.text.strip()}\\n")
    return r


@pytest.mark.matgto(
    name="rules/marker",
    match=MatchRules(body="json", ignore_json_pointers=["/ts"]),
    on_miss="record",
    redact=RedactRules(query_params=["token"]),
)
def test_rules(matgto_cassette):
    options = matgto_cassette.info.options
    assert options.match_rules.ignore_json_pointers == ["/ts"]
    assert list(options.redact.query_params) == ["token"]
    post(matgto_cassette, {"item": 1, "ts": os.environ["TS"]})
    if matgto_cassette.mode.name == "REPLAY":
        post(matgto_cassette, {"item": 2})  # a miss: recorded as a new episode
'''


def test_plugin_marker_takes_cassette_options(
    pytester: pytest.Pytester,
    server: RunningServer,
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.txt"
    monkeypatch.setenv("UPSTREAM_URL", upstream.url)
    monkeypatch.setenv("MATGTO_TEST_OUT", str(out))
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makepyfile(test_rules=RULES)

    monkeypatch.setenv("TS", "1")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("TS", "2")  # differs only at /ts: still replayed
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    lines = [line.split("|") for line in out.read_text().splitlines()]
    assert [(mode, status) for mode, status, _ in lines] == [("RECORD", "200"), ("REPLAY", "200"), ("REPLAY", "200")]
    assert lines[1][2] == lines[0][2], "replayed from the cassette"
    assert upstream.calls == 2, "the recording and the new episode"

    import matgto

    with matgto.Client(server.control) as client:
        cassette = client.get_cassette("rules/marker")
    assert len(cassette.interactions) == 2
    assert all("SECRET" not in i.http.request.url for i in cassette.interactions)


# -- a session per test: pytest-xdist, misses ------------------------------------------

XDIST_CONFTEST = '''
import hashlib
import json
import os
import time

import pytest
import requests


@pytest.fixture
def exchange(matgto_cassette, request, worker_id):
    """Three GETs through the test's own session, with paths unique to the test."""
    def run(shared=False):
        nodeid = request.node.nodeid
        tag = hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        http = requests.Session()
        http.trust_env = False
        proxies = matgto_cassette.shared_proxies() if shared else matgto_cassette.proxies()
        started = time.time()
        bodies = []
        for i in range(3):
            r = http.get(f"{os.environ['UPSTREAM_URL']}/{tag}/{i}", proxies=proxies, timeout=10)
            assert r.status_code == 200, r.text
            bodies.append(r.text)
            time.sleep(0.2)
        record = dict(nodeid=nodeid, tag=tag, cassette=matgto_cassette.name, mode=matgto_cassette.mode.name,
                      session=matgto_cassette.id, owner=matgto_cassette.owner, worker=worker_id,
                      bodies=bodies, started=started, ended=time.time())
        with open(os.path.join(os.environ["MATGTO_TEST_OUT"], tag + ".json"), "w") as out:
            json.dump(record, out)
    return run
'''

XDIST_X = '''
import pytest


def test_same(exchange):
    exchange()


@pytest.mark.parametrize("p", ["1", "2 x/y"])
def test_param(exchange, p):
    exchange()
'''

XDIST_TOP = '''
class TestK:
    def test_same(self, exchange):
        exchange()

    def test_via_shared_port(self, exchange):
        exchange(shared=True)
'''

XDIST_MORE = '''
import pytest


@pytest.mark.parametrize("n", range(3))
def test_more(exchange, n):
    exchange()
'''

XDIST_NAMES = {
    "a/test_x.py::test_same": "a/test_x/test_same",
    "a/test_x.py::test_param[1]": "a/test_x/test_param[1]",
    "a/test_x.py::test_param[2 x/y]": "a/test_x/test_param[2_x_y],h5b2708df",
    "b/test_x.py::test_same": "b/test_x/test_same",
    "b/test_x.py::test_param[1]": "b/test_x/test_param[1]",
    "b/test_x.py::test_param[2 x/y]": "b/test_x/test_param[2_x_y],h42ceb364",
    "test_top.py::TestK::test_same": "test_top/TestK/test_same",
    "test_top.py::TestK::test_via_shared_port": "test_top/TestK/test_via_shared_port",
    "c/test_more.py::test_more[0]": "c/test_more/test_more[0]",
    "c/test_more.py::test_more[1]": "c/test_more/test_more[1]",
    "c/test_more.py::test_more[2]": "c/test_more/test_more[2]",
}


def _records(out: Path) -> dict:
    import json

    return {r["nodeid"]: r for r in (json.loads(p.read_text()) for p in out.glob("*.json"))}


def _max_overlap(records: dict) -> int:
    edges = sorted([(r["started"], 1) for r in records.values()] + [(r["ended"], -1) for r in records.values()])
    level = best = 0
    for _, step in edges:
        level += step
        best = max(best, level)
    return best


def test_xdist_sessions_record_then_replay_on_one_server(
    pytester: pytest.Pytester,
    server: RunningServer,
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import matgto

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("UPSTREAM_URL", upstream.url)
    monkeypatch.setenv("MATGTO_TEST_OUT", str(out))
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makeconftest(XDIST_CONFTEST)
    for package in ("a", "b", "c"):
        pytester.mkpydir(package)
    pytester.makepyfile(**{"a/test_x": XDIST_X, "b/test_x": XDIST_X, "test_top": XDIST_TOP, "c/test_more": XDIST_MORE})

    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "4")
    first.assert_outcomes(passed=len(XDIST_NAMES))
    recorded = _records(out)
    assert {nodeid: r["cassette"] for nodeid, r in recorded.items()} == XDIST_NAMES
    assert {r["mode"] for r in recorded.values()} == {"RECORD"}
    assert len({r["session"] for r in recorded.values()}) == len(XDIST_NAMES), "a session per test"
    assert len({r["worker"] for r in recorded.values()}) >= 2, "the tests ran in several workers"
    assert _max_overlap(recorded) >= 2, "sessions were open at the same time"
    for r in recorded.values():
        assert r["owner"].startswith(f"pytest {r['worker']} pid ") and r["owner"].endswith(" " + r["nodeid"])
    assert upstream.calls == 3 * len(XDIST_NAMES)

    with matgto.Client(server.control) as client:
        for nodeid, r in recorded.items():
            cassette = client.get_cassette(r["cassette"])
            exchanges = [(i.http.request.url, i.http.response.body.decode()) for i in cassette.interactions]
            assert exchanges == [
                (f"{upstream.url}/{r['tag']}/{n}", body) for n, body in enumerate(r["bodies"])
            ], f"{r['cassette']} holds exactly the exchanges of {nodeid}"
        status = client.status()
        assert [s.id for s in status.sessions] == [], "every session was stopped"
        ended = {s.session.id: s.end_reason for s in status.ended_sessions}
        assert all(ended.get(r["session"]) == "stopped" for r in recorded.values())

    upstream.stop()
    for stale in out.iterdir():
        stale.unlink()
    second = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "4")
    second.assert_outcomes(passed=len(XDIST_NAMES))
    replayed = _records(out)
    assert {r["mode"] for r in replayed.values()} == {"REPLAY"}
    assert {n: (r["cassette"], r["bodies"]) for n, r in replayed.items()} == {
        n: (r["cassette"], r["bodies"]) for n, r in recorded.items()
    }
    assert upstream.calls == 3 * len(XDIST_NAMES), "the replay never reached the upstream"


MISSES = '''
import os

import pytest
import requests

EXTRA = os.environ.get("EXTRA") == "1"


def get(session, path):
    http = requests.Session()
    http.trust_env = False
    return http.get(os.environ["UPSTREAM_URL"] + path, proxies=session.proxies(), timeout=10)


def test_nomatch(matgto_cassette):
    assert get(matgto_cassette, "/known").status_code == 200
    if EXTRA:
        assert get(matgto_cassette, "/unknown").status_code == 599  # the test does not notice


@pytest.mark.matgto(on_exhausted="error")
def test_exhausted(matgto_cassette):
    get(matgto_cassette, "/once")
    if EXTRA:
        get(matgto_cassette, "/once")


@pytest.mark.matgto(on_miss="passthrough")
def test_forwarded_miss_is_no_failure(matgto_cassette):
    get(matgto_cassette, "/base")
    if EXTRA:
        assert get(matgto_cassette, "/new").status_code == 200


@pytest.mark.matgto(misses="warn")
def test_warn_marker(matgto_cassette):
    get(matgto_cassette, "/w")
    if EXTRA:
        get(matgto_cassette, "/w-unknown")


@pytest.fixture
def logout(matgto_cassette):
    yield
    if EXTRA:
        get(matgto_cassette, "/in-teardown")


def test_miss_in_fixture_teardown(logout, matgto_cassette):
    get(matgto_cassette, "/t")


def test_failing_test_gets_the_misses_too(matgto_cassette):
    get(matgto_cassette, "/f")
    if EXTRA:
        get(matgto_cassette, "/f-unknown")
        assert False, "the test's own failure"
'''


def test_replay_miss_fails_the_test_with_the_explanation(
    pytester: pytest.Pytester,
    server: RunningServer,
    upstream: Upstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_URL", upstream.url)
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makepyfile(test_miss=MISSES)
    monkeypatch.setenv("EXTRA", "0")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=6)

    monkeypatch.setenv("EXTRA", "1")
    failing = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    failing.assert_outcomes(passed=3, failed=3, errors=1, warnings=1)
    text = failing.stdout.str()
    u = upstream.url
    for line in (  # in any order
        "FAILED test_miss.py::test_nomatch*",
        "FAILED test_miss.py::test_exhausted*",
        "FAILED test_miss.py::test_failing_test_gets_the_misses_too*",
        "ERROR test_miss.py::test_miss_in_fixture_teardown*",
        "PASSED test_miss.py::test_forwarded_miss_is_no_failure*",
        "PASSED test_miss.py::test_warn_marker*",
    ):
        failing.stdout.fnmatch_lines([line])
    assert "matgto: 1 replay miss in cassette 'test_miss/test_nomatch' (session s-" in text
    assert f"GET {u}/unknown -> no-match" in text
    assert f"closest: #0 GET {u}/known" in text
    assert "path: recorded '/known', live '/unknown'" in text
    assert f"GET {u}/once -> exhausted" in text
    assert "to only warn" in text and "--matgto-misses=warn" in text
    assert f"GET {u}/in-teardown -> no-match" in text, "a miss in a fixture's teardown is reported at stop"
    assert "the test's own failure" in text and "matgto replay misses" in text
    assert f"GET {u}/f-unknown -> no-match" in text
    assert "ReplayMissWarning" in text and f"GET {u}/w-unknown -> no-match" in text
    assert f"{u}/new" not in text, "a miss the policy forwarded is no failure"

    for how in (["--matgto-misses=warn"], ["-o", "matgto_misses=warn"]):
        warned = pytester.runpytest_subprocess("-p", "no:cacheprovider", *how)
        warned.assert_outcomes(passed=5, failed=1, warnings=5)
        warned.stdout.fnmatch_lines(["FAILED test_miss.py::test_failing_test_gets_the_misses_too*"])
        assert f"GET {u}/unknown -> no-match" in warned.stdout.str()


def test_plugin_session_options_are_checked(
    pytester: pytest.Pytester, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    pytester.makepyfile(
        test_opts='''
import pytest

@pytest.mark.matgto(misses="sometimes")
def test_bad_misses():
    pass

def test_lease(matgto_cassette):
    assert matgto_cassette.lease.total_seconds() == 5

def test_proxy_fixture(matgto_proxy, matgto_cassette):
    assert matgto_proxy == matgto_cassette.proxy_url == "http://" + matgto_cassette.info.proxy_address
    assert matgto_cassette.info.proxy_address != matgto_cassette.client.status().proxy_address

def test_session_stopped_elsewhere(matgto_client, matgto_cassette):
    matgto_client.stop(session=matgto_cassette.id)
'''
    )
    helped = pytester.runpytest_subprocess("--help")
    helped.stdout.fnmatch_lines(["*--matgto-misses={fail,warn}*", "*matgto_misses (*", "*matgto_lease (*", "*matgto_session (*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "matgto_lease=5")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*misses=...) must be one of fail, warn, not 'sometimes'*"])
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_session_stopped_elsewhere*",
         "matgto session s-* (cassette 'test_opts/test_session_stopped_elsewhere') had already ended "
         "when it was stopped: it ended (stopped at *"]
    )
    bad = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "matgto_lease=zero", "-k", "lease")
    bad.assert_outcomes(errors=1)
    bad.stdout.fnmatch_lines(["*matgto_lease must be a positive number of seconds*"])
