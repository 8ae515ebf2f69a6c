"""HTTP fault rules (issue 16) against a real matgto server, with real HTTP clients
(requests, urllib3) and a real upstream on 127.0.0.1: status faults and
retries, connection faults (reset, hang), delay and bandwidth, rules per
session, applied counts, seeds and the errors for bad rules.

Timing assertions test the mechanism with generous tolerances; they are not
benchmarks.
"""

from __future__ import annotations

import datetime
import json
from typing import List

import pytest
import requests
import urllib3

import matgto
from matgto import CassetteNotFoundError, Fault, InvalidArgumentError

from conftest import FaultUpstream, RunningServer, record, timed


# -- status faults and retries ----------------------------------------------------------------


def test_urllib3_retries_reach_the_answer_after_two_injected_503s(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    retry = urllib3.Retry(total=4, status_forcelist=[503], backoff_factor=0, respect_retry_after_header=True)
    url = origin.url + "/orders/1"

    # Recording: the injected 503s are answered by matgto, never forwarded or recorded.
    with client.session("faults/orders", mode="record") as s:
        rule = s.add_fault(status=503, headers={"Retry-After": "1"}, body="try later", first_n=2, url=r"/orders/.*")
        assert rule.id and rule.kind == "status" and rule.first_n == 2 and rule.headers == (("Retry-After", "1"),)
        with urllib3.ProxyManager(s.proxy_url, retries=retry) as pool:
            response, took = timed(lambda: pool.request("GET", url, timeout=10))
        assert response.status == 200 and json.loads(response.data)["path"] == "/orders/1"
        assert [h.status for h in response.retries.history] == [503, 503], "two injected 503s, then the real answer"
        assert took >= 1.8, f"urllib3 honoured Retry-After: 1 twice, took {took:.2f}s"
        assert origin.calls == ["/orders/1"], "the injected answers were not forwarded"
        s.refresh()
        (after,) = s.faults
        assert after.id == rule.id and after.applied == 2
    cassette = client.get_cassette("faults/orders")
    assert [i.http.response.status for i in cassette.interactions] == [200], "no 503 in the cassette"

    # Replaying: the same rule in front of the recorded answer.
    with client.session("faults/orders", mode="replay") as s:
        s.add_fault(status=503, headers={"Retry-After": "0"}, first_n=2, url=r"/orders/.*")
        with urllib3.ProxyManager(s.proxy_url, retries=retry) as pool:
            response = pool.request("GET", url, timeout=10)
            assert response.status == 200 and len(response.retries.history) == 2
            assert json.loads(response.data) == {"path": "/orders/1", "call": 1}, "the recorded answer"
            # first_n: never again.
            assert pool.request("GET", url, timeout=10, retries=False).status == 200
        s.refresh()
        assert s.faults[0].applied == 2
    assert origin.calls == ["/orders/1"], "replay did not reach the upstream"


def test_injected_answers_do_not_use_up_recorded_answers(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    """CONTRACT.md: a status fault is answered *instead* of the recorded response,
    so with each recorded answer used once (on_exhausted="error") the request after
    two injected 503s still gets the recorded answer."""
    url = origin.url + "/orders/once"
    record(client, http, "faults/once", url)
    with client.session("faults/once", mode="replay", on_exhausted="error") as s:
        s.add_fault(status=503, first_n=2)
        codes = [http.get(url, proxies=s.proxies(), timeout=10).status_code for _ in range(3)]
        info = s.refresh()
        assert codes == [503, 503, 200], "the 3rd request is the first to reach the cassette"
        assert info.replayed == 1, "injected answers are not replays"


def test_a_status_fault_answers_its_headers_and_body(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/status", mode="passthrough") as s:
        s.add_fault(status=429, headers=[("Retry-After", "7"), ("X-Why", "test")], body=b'{"error":"slow down"}',
                    method="POST")
        got = http.get(origin.url + "/orders/2", proxies=s.proxies(), timeout=10)
        assert got.status_code == 200, "the rule matches POST only"
        refused = http.post(origin.url + "/orders/2", data=b"x", proxies=s.proxies(), timeout=10)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "7" and refused.headers["X-Why"] == "test"
        assert refused.content == b'{"error":"slow down"}'


# -- connection faults --------------------------------------------------------------------------


def test_a_reset_before_the_headers_is_a_connection_error(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/reset", mode="passthrough") as s:
        rule = s.add_fault(reset=True)
        assert rule.reset is matgto.ResetWhen.BEFORE_HEADERS
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get(origin.url + "/orders/3", proxies=s.proxies(), timeout=10)
        assert s.refresh().faults[0].applied == 1


@pytest.mark.parametrize("when", ["after-headers", "mid-body"])
def test_a_reset_later_breaks_the_response(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session, when: str
) -> None:
    with client.session(f"faults/reset-{when}", mode="passthrough") as s:
        s.add_fault(reset=when, url="/big")
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            response = http.get(origin.url + "/big", proxies=s.proxies(), timeout=10)
            response.content  # noqa: B018 - reading the body is what fails
        ok = http.get(origin.url + "/orders/4", proxies=s.proxies(), timeout=10)
        assert ok.status_code == 200, "other URLs are untouched"
        assert s.refresh().faults[0].applied == 1


def test_hang_is_seen_as_a_client_timeout_and_clearing_restores_answers(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/hang", mode="passthrough") as s:
        rule = s.add_fault(hang=True)
        with pytest.raises(requests.exceptions.Timeout):
            _, took = timed(lambda: http.get(origin.url + "/orders/5", proxies=s.proxies(), timeout=1))
        assert s.clear_faults() == [] and len(s.faults) == 0
        assert not client.faults(s.id), "the server has no rule left"
        answer = http.get(origin.url + "/orders/5", proxies=s.proxies(), timeout=10)
        assert answer.status_code == 200 and answer.json()["path"] == "/orders/5"
        with pytest.raises(CassetteNotFoundError):
            s.clear_faults([rule.id])


def test_clearing_one_rule_keeps_the_others(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/clear", mode="passthrough") as s:
        s.add_fault(delay="1ms", url="/nothing-goes-here")
        teapot, busy = s.add_faults(Fault(status=418, url="/orders/"), {"status": 503, "url": "/other"})
        assert (teapot.status, teapot.url, busy.status, busy.url) == (418, "/orders/", 503, "/other"), (
            "add_faults returns the rules it added, with their ids"
        )
        assert len({teapot.id, busy.id, s.faults[0].id}) == 3 and len(client.faults(s.id)) == 3
        s.clear_faults(s.faults[0])
        get = lambda path: http.get(origin.url + path, proxies=s.proxies(), timeout=10).status_code  # noqa: E731
        assert (get("/orders/6"), get("/other"), get("/fine")) == (418, 503, 200)
        left = s.clear_faults(teapot)
        assert [r.id for r in left] == [busy.id]
        assert (get("/orders/6"), get("/other")) == (200, 503)
        with s.with_fault(status=500, url="/fine") as temporary:
            assert get("/fine") == 500 and temporary.id in {r.id for r in client.faults(s.id)}
        assert get("/fine") == 200, "with_fault removed its rule"
        assert client.clear_faults(s.id) == []
        assert get("/other") == 200


def test_faults_are_per_session(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/a", mode="passthrough") as a, client.session("faults/b", mode="passthrough") as b:
        a.add_fault(status=503)
        assert http.get(origin.url + "/x", proxies=a.proxies(), timeout=10).status_code == 503
        assert http.get(origin.url + "/x", proxies=b.proxies(), timeout=10).status_code == 200
        assert http.get(origin.url + "/x", proxies=a.shared_proxies(), timeout=10).status_code == 503, (
            "the session's rules apply on the shared port too"
        )
        assert len(b.refresh().faults) == 0


# -- delay and bandwidth ---------------------------------------------------------------------------


def test_a_delay_fault_slows_the_answer(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/delay", mode="passthrough") as s:
        s.add_fault(delay=datetime.timedelta(milliseconds=700), every_nth=2)
        took = [timed(lambda: http.get(origin.url + "/d", proxies=s.proxies(), timeout=10))[1] for _ in range(2)]
        assert took[0] < 0.5 and took[1] >= 0.65, f"the 2nd request waits 700ms: {took}"


def test_a_bandwidth_limit_paces_the_body(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/bandwidth", mode="passthrough") as s:
        free, fast = timed(lambda: http.get(origin.url + "/big", proxies=s.proxies(), timeout=10))
        s.add_fault(bandwidth="32KiB", url="/big")  # 64 KiB at 32 KiB/s: about 2 s
        limited, slow = timed(lambda: http.get(origin.url + "/big", proxies=s.proxies(), timeout=20))
        assert limited.content == free.content and len(limited.content) == 64 * 1024
        assert 1.4 <= slow <= 6.0 and fast < 1.0, f"unlimited {fast:.2f}s, limited {slow:.2f}s (expected about 2s)"


# -- status, seeds, errors ------------------------------------------------------------------------


def test_status_shows_rules_applied_counts_and_the_seed(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/status-counts", mode="passthrough") as s:
        rule = s.add_fault(status=500, every_nth=2, seed=7)
        assert s.fault_seed == 7
        codes = [http.get(origin.url + f"/n/{i}", proxies=s.proxies(), timeout=10).status_code for i in range(4)]
        assert codes == [200, 500, 200, 500]
        (listed,) = [info for info in client.status().sessions if info.id == s.id]
        assert listed.fault_seed == 7 and [(f.id, f.applied) for f in listed.faults] == [(rule.id, 2)]
        assert client.faults(s.id).applied == {rule.id: 2} and client.faults(s.id).seed == 7
        s.refresh()
        assert s.faults.by_id(rule.id).applied == 2 and s.fault_seed == 7
    assert s.summary is not None and s.summary.session.fault_seed == 7


def test_the_same_seed_gives_the_same_sequence(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    def run(name: str) -> List[int]:
        with client.session(name, mode="passthrough") as s:
            s.add_fault(status=503, probability=0.5, seed=12345)
            return [http.get(origin.url + "/p", proxies=s.proxies(), timeout=10).status_code for _ in range(24)]

    first, second = run("faults/seed-1"), run("faults/seed-2")
    assert first == second, "same seed, same sequence"
    assert 503 in first and 200 in first, f"probability 0.5 over 24 requests: {first}"


def test_a_session_reports_a_seed_without_being_given_one(client: matgto.Client) -> None:
    with client.session("faults/seedless", mode="passthrough") as s:
        s.add_fault(status=503, probability=0.1)
        assert s.fault_seed != 0, "the session's seed is reported so a failing test can be re-run with it"
        assert s.refresh().fault_seed == s.fault_seed


def test_bad_rules_are_invalid_argument(client: matgto.Client) -> None:
    with client.session("faults/bad", mode="passthrough") as s:
        with pytest.raises(InvalidArgumentError) as bad_re:
            s.add_fault(hang=True, url="/orders/(")
        assert bad_re.value.method == "SetFaults"
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=503, probability=2)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=503, probability=-0.5)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=42)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(matgto.v1.control_pb2.Fault(url_pattern="/x"))  # no action: only a raw message can say that
        assert len(client.faults(s.id)) == 0, "nothing was added"
        with pytest.raises(CassetteNotFoundError):
            s.clear_faults("f999")
    with pytest.raises(CassetteNotFoundError):
        client.add_fault("s-0000000000000000", hang=True)
    with pytest.raises(CassetteNotFoundError):
        client.clear_faults("s-0000000000000000")


def test_a_closed_session_takes_its_rules_with_it(client: matgto.Client) -> None:
    with client.session("faults/closed", mode="passthrough") as s:
        s.add_fault(hang=True)
    assert len(s.faults) == 1, "the summary still shows the rule"
    with pytest.raises(CassetteNotFoundError):
        client.add_fault(s.id, hang=True)


def test_faults_on_the_default_session(
    server: RunningServer, client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    proxies = {"http": "http://" + server.proxy}
    with client.cassette("faults/default", "passthrough") as s:
        assert s.is_default
        mine = s.add_fault(status=503)
        assert http.get(origin.url + "/d", proxies=proxies, timeout=10).status_code == 503
        assert [r.id for r in client.faults()] == [mine.id]
    assert len(client.faults()) == 0, "the session object cleared the rule it added when it stopped"
