"""pytest plugin (entry point ``pytest11``): cassettes named after tests.

Mark a test, or request the fixture::

    @pytest.mark.matgto                      # cassette "test_module/test_name", mode auto
    def test_user(matgto_cassette):
        requests.get(URL, proxies=matgto_cassette.proxies())

    @pytest.mark.matgto(name="shared/users", mode="replay", on_exhausted="error")
    def test_other(matgto_cassette): ...

    @pytest.mark.matgto(match=MatchRules(body="json"), on_miss="record")
    def test_rules(matgto_cassette): ...

The marker takes the keyword options of :meth:`matgto.Client.use_cassette`
(``on_exhausted``, ``repeat``, ``on_miss``, ``match``, ``redact``,
``store_decoded``, ``ws_timing``, ``ws_speed``, ``proto_options``).

A marked test gets its cassette even without requesting ``matgto_cassette``.
The cassette ends (``StopRecording``) when the test ends, pass or fail.

Options: ``--matgto-server HOST:PORT`` (else ``$MATGTO_SERVER``, else the ini
value ``matgto_server``, else ``127.0.0.1:8889``) and ``--matgto-mode MODE`` to
force one mode for every cassette (e.g. ``record`` to re-record them all).

Fixtures: ``matgto_client`` (session-wide :class:`matgto.Client`) and
``matgto_cassette`` (the :class:`matgto.CassetteSession` of the test).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from .naming import cassette_name_from_parts

MARKER = "matgto"
_MODES = ("auto", "record", "replay", "passthrough")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matgto", "matgto record/replay proxy")
    group.addoption(
        "--matgto-server",
        dest="matgto_server",
        default=None,
        metavar="HOST:PORT",
        help="control address of the matgto server (default: $MATGTO_SERVER, "
        "ini matgto_server, 127.0.0.1:8889)",
    )
    group.addoption(
        "--matgto-mode",
        dest="matgto_mode",
        default=None,
        choices=_MODES,
        help="use every matgto cassette in this mode, whatever the markers say",
    )
    parser.addini("matgto_server", "control address of the matgto server", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, mode='auto', *, on_exhausted=None, repeat=None, on_miss=None, "
        "match=None, redact=None, store_decoded=None, ws_timing=None, ws_speed=None, "
        "proto_options=None): use a matgto cassette during the test, named after the test "
        "unless `name` is given; the options are those of matgto.Client.use_cassette",
    )


def server_address(config: pytest.Config) -> str:
    """The control address: ``--matgto-server``, ``$MATGTO_SERVER``, ini
    ``matgto_server``, then ``127.0.0.1:8889``."""
    from .client import DEFAULT_SERVER, SERVER_ENV

    return (
        config.getoption("matgto_server")
        or os.environ.get(SERVER_ENV, "").strip()
        or (config.getini("matgto_server") or "").strip()
        or DEFAULT_SERVER
    )


def cassette_name_for(item: Any) -> str:
    """``"test_module/test_name"`` for ``test_module.py::test_name``;
    ``"test_module/TestClass/test_name[param]"`` for methods and parameters.
    Characters the server refuses become ``_``."""
    file_part, *rest = item.nodeid.split("::")
    path = getattr(item, "path", None)
    stem = Path(str(path)).stem if path is not None else Path(file_part).stem
    return cassette_name_from_parts([stem, *rest])


def _marker_arguments(
    name: Optional[str] = None,
    mode: Optional[str] = "auto",
    *,
    on_exhausted: Any = None,
    repeat: Any = None,
    on_miss: Any = None,
    match: Any = None,
    redact: Any = None,
    store_decoded: Optional[bool] = None,
    ws_timing: Any = None,
    ws_speed: Optional[float] = None,
    proto_options: Any = None,
) -> Tuple[Optional[str], Optional[str], Dict[str, Any]]:
    options = dict(
        on_exhausted=on_exhausted,
        repeat=repeat,
        on_miss=on_miss,
        match=match,
        redact=redact,
        store_decoded=store_decoded,
        ws_timing=ws_timing,
        ws_speed=ws_speed,
        proto_options=proto_options,
    )
    return name, mode, {k: v for k, v in options.items() if v is not None}


@pytest.fixture(scope="session")
def matgto_client(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A :class:`matgto.Client` connected to the configured server, shared by the session."""
    from .client import Client

    client = Client(server_address(pytestconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def matgto_cassette(request: pytest.FixtureRequest, matgto_client: Any) -> Iterator[Any]:
    """The test's :class:`matgto.CassetteSession`, started with ``UseCassette``
    and ended with ``StopRecording`` after the test."""
    marker = request.node.get_closest_marker(MARKER)
    try:
        name, mode, options = (
            _marker_arguments(*marker.args, **marker.kwargs) if marker else _marker_arguments()
        )
    except TypeError as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {exc}") from None
    from .options import cassette_options

    try:  # bad option values are the marker's fault, not the server's
        cassette_options(**options)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {exc}") from None
    mode = request.config.getoption("matgto_mode") or mode
    with matgto_client.cassette(name or cassette_name_for(request.node), mode, **options) as session:
        yield session


@pytest.fixture(autouse=True)
def _matgto_marked(request: pytest.FixtureRequest) -> None:
    """Gives marked tests their cassette even when they do not ask for it."""
    node = request.node
    if (
        "matgto_cassette" not in getattr(request, "fixturenames", ())
        and node.get_closest_marker(MARKER) is not None
    ):
        request.getfixturevalue("matgto_cassette")
