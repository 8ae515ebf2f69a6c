"""Replay latency (issue 16) against a real matgto server and a real upstream on
127.0.0.1: fixed, jittered and as-recorded latency, per-session overrides, and
the pytest plugin's ``matgto`` marker carrying faults and latency end to end.

Timing assertions test the mechanism with generous tolerances; they are not
benchmarks.
"""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest
import requests

import matgto
from matgto import Latency, Mode

from conftest import SLOW_SECONDS, FaultUpstream, RunningServer, record, timed


# -- latency ------------------------------------------------------------------------------------------


def test_fixed_latency_slows_a_replayed_request_and_no_other_session(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    url = origin.url + "/orders/7"
    with client.session("latency/fixed", mode="record", latency="300ms") as s:  # stored with the cassette
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    assert Latency.from_proto(client.get_cassette("latency/fixed").options.latency) == Latency.fixed("300ms")
    record(client, http, "latency/plain", url)
    with client.session("latency/fixed", mode="replay", repeat="reuse") as slow, \
            client.session("latency/plain", mode="replay", repeat="reuse") as fast:
        assert slow.latency == Latency.fixed("300ms") and fast.latency is None
        # Another session on the same server is not slowed while this one waits.
        waiting: dict = {}
        thread = threading.Thread(
            target=lambda: waiting.update(took=timed(lambda: http.get(url, proxies=slow.proxies(), timeout=10))[1])
        )
        thread.start()
        answer, quick = timed(lambda: requests.get(url, proxies=fast.proxies(), timeout=10))
        thread.join()
        assert answer.status_code == 200 and quick < 0.25, f"the other session took {quick:.3f}s"
        assert waiting["took"] >= 0.29, f"300ms latency, took {waiting['took']:.3f}s"
        _, again = timed(lambda: http.get(url, proxies=slow.proxies(), timeout=10))
        assert 0.29 <= again < 3.0
        assert slow.refresh().replayed == 2 and slow.mode == Mode.REPLAY


def test_jittered_latency_stays_in_its_range(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    url = origin.url + "/orders/8"
    with client.session("latency/jitter", mode="record", latency="200ms±100ms") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    with client.session("latency/jitter", mode="replay", repeat="reuse") as s:
        assert s.latency == Latency.fixed("200ms", "100ms")
        took = [timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1] for _ in range(4)]
    assert all(0.09 <= t < 2.0 for t in took), took


def test_as_recorded_latency_follows_the_recording(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    url = origin.url + "/slow"
    with client.session("latency/recorded", mode="record", latency="as-recorded") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    timing = client.get_cassette("latency/recorded").interactions[0].http.timing
    assert timing.total.ToTimedelta() >= datetime.timedelta(seconds=SLOW_SECONDS * 0.9)
    with client.session("latency/recorded", mode="replay") as s:
        assert s.latency == Latency.as_recorded()
        _, real = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))
    assert SLOW_SECONDS * 0.9 <= real < SLOW_SECONDS + 1.5, f"as recorded ({SLOW_SECONDS}s) took {real:.3f}s"


def test_latency_is_overridden_per_session(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    """CONTRACT.md: latency is "overridable per session by Replay/UseCassette
    options like any other option"."""
    url = origin.url + "/slow"
    with client.session("latency/override", mode="record", latency="as-recorded") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    took, reported = {}, {}
    for latency, scale in (("fast", None), (None, 0.5), ("300ms", None)):
        with client.session("latency/override", mode="replay", latency=latency, latency_scale=scale) as s:
            took[latency or scale] = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1]
            reported[latency or scale] = str(s.latency)
    with client.replaying("latency/override", new_session=True, latency="fast") as s:
        took["Replay fast"] = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1]
    assert took["fast"] < 0.3 and took["Replay fast"] < 0.3, took
    assert SLOW_SECONDS * 0.45 <= took[0.5] < SLOW_SECONDS * 0.9, took
    assert 0.29 <= took["300ms"] < SLOW_SECONDS * 0.9, took
    assert reported == {"fast": "fast", 0.5: "as-recorded x0.5", "300ms": "300ms"}, "SessionInfo.options.latency"


# -- the pytest plugin --------------------------------------------------------------------------------


PLUGIN_TESTS = '''
import os

import pytest
import requests

import matgto


def get(session, path, **kwargs):
    http = requests.Session()
    http.trust_env = False
    return http.get(os.environ["UPSTREAM_URL"] + path, proxies=session.proxies(), **kwargs)


@pytest.mark.matgto(mode="passthrough")
def test_fixture_session_takes_faults(matgto_cassette):
    rule = matgto_cassette.add_fault(status=503, first_n=2, url="/orders/")
    assert [get(matgto_cassette, "/orders/1", timeout=10).status_code for _ in range(3)] == [503, 503, 200]
    matgto_cassette.refresh()
    assert matgto_cassette.faults.by_id(rule.id).applied == 2
    matgto_cassette.add_fault(hang=True)
    with pytest.raises(requests.exceptions.Timeout):
        get(matgto_cassette, "/x", timeout=0.5)
    assert len(matgto_cassette.clear_faults()) == 0
    assert get(matgto_cassette, "/x", timeout=10).status_code == 200


@pytest.mark.matgto(mode="passthrough", faults=[matgto.Fault(status=502, url="/down"), {"reset": True, "url": "/rst"}],
                    fault_seed=99)
def test_marker_faults(matgto_cassette):
    assert matgto_cassette.fault_seed == 99
    assert [f.kind for f in matgto_cassette.faults] == ["status", "reset"]
    assert get(matgto_cassette, "/down", timeout=10).status_code == 502
    with pytest.raises(requests.exceptions.ConnectionError):
        get(matgto_cassette, "/rst", timeout=10)


@pytest.mark.matgto(name="plugin/latency", latency="400ms", repeat="reuse")
def test_marker_latency(matgto_cassette):
    assert matgto_cassette.latency == matgto.Latency.fixed("400ms")
    import time
    started = time.monotonic()
    assert get(matgto_cassette, "/orders/9", timeout=10).status_code == 200
    took = time.monotonic() - started
    with open(os.environ["MATGTO_TEST_OUT"], "a") as out:
        out.write(f"{matgto_cassette.mode.name} {took:.3f}\\n")


@pytest.mark.matgto(faults=[{"status": 503, "hang": True}])
def test_bad_marker_faults(matgto_cassette):
    pass
'''


def test_the_plugin_fixture_carries_faults_and_latency(
    pytester: pytest.Pytester,
    server: RunningServer,
    origin: FaultUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.txt"
    monkeypatch.setenv("UPSTREAM_URL", origin.url)
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    monkeypatch.setenv("MATGTO_TEST_OUT", str(out))
    pytester.makepyfile(test_inner=PLUGIN_TESTS)
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    first.assert_outcomes(passed=3, errors=1)
    first.stdout.fnmatch_lines(["*UsageError: @pytest.mark.matgto: a fault does exactly one thing; got status, hang*"])
    second = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "latency")
    second.assert_outcomes(passed=1)
    (recorded, replayed) = [line.split() for line in out.read_text().splitlines()]
    assert recorded[0] == "RECORD" and replayed[0] == "REPLAY"
    assert float(replayed[1]) >= 0.39, f"the replay waited the 400ms stored with the cassette: {replayed}"
    with server.client() as check:
        assert not check.sessions(), "every test's session (and its rules) ended"
