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
'''
    )
    helped = pytester.runpytest_subprocess("--help")
    helped.stdout.fnmatch_lines(["*--matgto-server=HOST:PORT*", "*--matgto-mode*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.matgto(name=None, mode='auto', on_exhausted=None)*"])

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*bogus*", "*CassetteNotFoundError*"])
