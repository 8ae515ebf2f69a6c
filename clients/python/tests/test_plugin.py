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
    with matgto.Client(server_address(request.config)) as client:
        info = client.status().session
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
        ("test_inner/test_param[a_b_c]", "RECORD", "200"),
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
