"""pytest plugin (entry point ``pytest11``): a matgto session per test.

Mark a test, or request the fixture::

    @pytest.mark.matgto                      # cassette "tests/test_module/test_name", mode auto
    def test_user(matgto_cassette):
        requests.get(URL, proxies=matgto_cassette.proxies())

    @pytest.mark.matgto(name="shared/users", mode="replay", on_exhausted="error")
    def test_other(matgto_cassette): ...

    @pytest.mark.matgto(match=MatchRules(body="json"), on_miss="record", misses="warn")
    def test_rules(matgto_cassette): ...

Each test gets a **new server session** of its own (``new_session``): its own
proxy listener, its cassette, a lease (ini ``matgto_lease``, default 30 s)
renewed in the background, and ``owner`` "pytest <worker> pid <pid> <node id>".
So tests can run in parallel (``pytest -n 4``) against one shared server. The
session is stopped when the test ends, pass or fail.

A **replay miss fails the test** (reasons ``no-match``, ``exhausted``,
``ws-mismatch``; a miss the miss policy forwarded is not a failure), with the
explanation in the failure message. ``misses="warn"`` (marker),
``--matgto-misses=warn`` or ini ``matgto_misses = warn`` only warn
(:class:`matgto.ReplayMissWarning`). Misses during the test body fail the
test itself; misses later, in the teardown of fixtures that use the proxy,
are reported when the session stops, as a teardown error.

The marker takes ``name``, ``mode``, ``misses`` and the keyword options of
:meth:`matgto.Client.use_cassette` (``on_exhausted``, ``repeat``,
``on_miss``, ``match``, ``redact``, ``store_decoded``, ``ws_timing``,
``ws_speed``, ``stream_timing``, ``stream_speed``, ``latency``,
``latency_scale``, ``proto_options``). A marked
test gets its session even without requesting ``matgto_cassette``.

Faults: the test's session is a :class:`matgto.CassetteSession`, so a test
adds and clears fault rules through it::

    def test_retries(matgto_cassette):
        matgto_cassette.add_fault(status=503, first_n=2, url=r"/orders/")
        ...
        assert matgto_cassette.refresh().faults[0].applied == 2

or declares them on the marker, added before the test starts:
``@pytest.mark.matgto(faults=[matgto.Fault(hang=True)], fault_seed=7)``.
The rules end with the session.

Options: ``--matgto-server HOST:PORT`` (else ``$MATGTO_SERVER``, else ini
``matgto_server``, else ``127.0.0.1:8889``; ``local``: start a server for the
test session with the ``matgto_server`` fixture and use it); ``--matgto-mode MODE`` forces one
mode for every cassette (e.g. ``record`` to re-record them all);
``--matgto-misses fail|warn`` forces the miss handling; ini ``matgto_lease``
(seconds) and ``matgto_session = default`` (use the server's default session
instead of one per test, as before sessions existed: one test at a time).

Fixtures: ``matgto_server`` (session-wide :class:`matgto.testing.LocalServer`:
a ``matgto serve`` this test session starts, binary from ``$MATGTO_BIN`` or
``PATH``, flags from ini ``matgto_serve_args``; stopped when the session ends;
each pytest-xdist worker starts its own), ``matgto_client`` (session-wide
:class:`matgto.Client`),
``matgto_cassette`` (the test's :class:`matgto.CassetteSession`: ``.id``,
``.proxy_url``, ``.proxies()``, ``.shared_proxy_url``...),
``matgto_proxy`` (its ``proxy_url``, ``"http://127.0.0.1:PORT"``) and
``matgto_proxy_env`` (the session as the process's proxy and CA variables for
the test, :func:`matgto.testing.proxy_env`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from .naming import cassette_name_for_nodeid, truncate_utf8

MARKER = "matgto"
_MODES = ("auto", "record", "replay", "passthrough")
_MISSES = ("fail", "warn")
_SESSIONS = ("new", "default")
#: The server address that makes ``matgto_client`` start a server (``matgto_server``).
LOCAL = "local"
#: The server's limit on ``owner``.
MAX_OWNER_BYTES = 256
_HOW_TO_WARN = (
    "(a replay miss fails the test; to only warn: @pytest.mark.matgto(misses=\"warn\"), "
    "--matgto-misses=warn or ini matgto_misses = warn)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matgto", "matgto record/replay proxy")
    group.addoption(
        "--matgto-server",
        dest="matgto_server",
        default=None,
        metavar="HOST:PORT",
        help="control address of the matgto server (default: $MATGTO_SERVER, "
        "ini matgto_server, 127.0.0.1:8889); 'local': start one for this test session",
    )
    group.addoption(
        "--matgto-mode",
        dest="matgto_mode",
        default=None,
        choices=_MODES,
        help="use every matgto cassette in this mode, whatever the markers say",
    )
    group.addoption(
        "--matgto-misses",
        dest="matgto_misses",
        default=None,
        choices=_MISSES,
        help="what a replay miss does to a test: fail it (default) or only warn, "
        "whatever the markers and ini say",
    )
    parser.addini(
        "matgto_server", "control address of the matgto server ('local': start one for the session)", default=None
    )
    parser.addini(
        "matgto_serve_args",
        "extra `matgto serve` flags of the server the matgto_server fixture starts",
        type="args",
        default=[],
    )
    parser.addini("matgto_misses", "what a replay miss does to a test: fail (default) or warn", default="fail")
    parser.addini(
        "matgto_lease",
        "lease of each test's matgto session in seconds, renewed every third of it (default 30)",
        default="30",
    )
    parser.addini(
        "matgto_session",
        "new (default): a new matgto session per test; default: the server's default "
        "session (one test at a time, no parallel runs)",
        default="new",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, mode='auto', *, on_exhausted=None, repeat=None, on_miss=None, "
        "match=None, redact=None, store_decoded=None, ws_timing=None, ws_speed=None, "
        "stream_timing=None, stream_speed=None, "
        "latency=None, latency_scale=None, proto_options=None, misses=None, faults=None, "
        "fault_seed=None): use a new matgto session during the test, with a "
        "cassette named after the test unless `name` is given; the options are those of "
        "matgto.Client.use_cassette; misses='warn' makes replay misses warn instead of failing; "
        "faults (matgto.Fault, dict, or a list of them) are added to the session before the test",
    )


def server_address(config: pytest.Config) -> str:
    """The control address: ``--matgto-server``, ``$MATGTO_SERVER``, ini
    ``matgto_server``, then ``127.0.0.1:8889``."""
    from .connection import DEFAULT_SERVER, SERVER_ENV

    return (
        config.getoption("matgto_server")
        or os.environ.get(SERVER_ENV, "").strip()
        or (config.getini("matgto_server") or "").strip()
        or DEFAULT_SERVER
    )


def cassette_name_for(item: Any) -> str:
    """The default cassette name of a test: module path, class and test name
    (``a/test_x.py::test_t`` -> ``"a/test_x/test_t"``); see
    :func:`matgto.naming.cassette_name_for_nodeid`."""
    return cassette_name_for_nodeid(item.nodeid)


def worker_id() -> str:
    """The pytest-xdist worker id (``"gw0"``...), or ``""`` outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def owner_for(nodeid: str, *, worker: Optional[str] = None, pid: Optional[int] = None) -> str:
    """``"pytest gw1 pid 4242 tests/test_x.py::test_y"`` (no worker outside
    xdist), cut to the server's 256 bytes."""
    worker = worker_id() if worker is None else worker
    pid = os.getpid() if pid is None else pid
    who = f"pytest {worker} pid {pid}" if worker else f"pytest pid {pid}"
    return truncate_utf8(f"{who} {nodeid}", MAX_OWNER_BYTES)


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
    stream_timing: Any = None,
    stream_speed: Optional[float] = None,
    latency: Any = None,
    latency_scale: Optional[float] = None,
    proto_options: Any = None,
    misses: Optional[str] = None,
    faults: Any = None,
    fault_seed: Optional[int] = None,
) -> Tuple[Optional[str], Optional[str], Optional[str], Dict[str, Any], _FaultArguments]:
    options = dict(
        on_exhausted=on_exhausted,
        repeat=repeat,
        on_miss=on_miss,
        match=match,
        redact=redact,
        store_decoded=store_decoded,
        ws_timing=ws_timing,
        ws_speed=ws_speed,
        stream_timing=stream_timing,
        stream_speed=stream_speed,
        latency=latency,
        latency_scale=latency_scale,
        proto_options=proto_options,
    )
    return (
        name,
        mode,
        misses,
        {k: v for k, v in options.items() if v is not None},
        _fault_arguments(faults, fault_seed),
    )


@dataclass
class _FaultArguments:
    """The marker's ``faults`` (as messages) and ``fault_seed``."""

    faults: List[Any]
    seed: Optional[int]


def _fault_arguments(faults: Any, seed: Optional[int]) -> _FaultArguments:
    """Checks the marker's ``faults=`` (a Fault, a dict of Fault arguments, or a
    list of those) and ``fault_seed=`` before any call (TypeError/ValueError)."""
    from .faults import Fault, fault_proto, parse_seed

    if faults is None:
        rules: List[Any] = []
    elif isinstance(faults, (Fault, dict)) or hasattr(faults, "DESCRIPTOR"):
        rules = [faults]
    elif isinstance(faults, (list, tuple)):
        rules = list(faults)
    else:
        raise TypeError(f"faults must be a matgto.Fault, a dict or a list of them, not {type(faults).__name__}")
    messages = [fault_proto(rule) for rule in rules]
    parse_seed(seed)
    if seed is not None and not messages:
        raise ValueError("fault_seed goes with faults=")
    return _FaultArguments(messages, seed)


def _choice(value: Any, choices: Tuple[str, ...], what: str) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise pytest.UsageError(f"matgto: {what} must be one of {', '.join(choices)}, not {value!r}")
    return text


def _lease(config: pytest.Config) -> float:
    raw = config.getini("matgto_lease")
    try:
        lease = float(raw)
    except (TypeError, ValueError):
        lease = float("nan")
    if not lease > 0:
        raise pytest.UsageError(f"matgto: ini matgto_lease must be a positive number of seconds, not {raw!r}")
    return lease


@dataclass
class _TestSession:
    """What the plugin keeps about a test's session between its phases."""

    session: Any  # matgto.CassetteSession
    misses: str  # "fail" | "warn"
    reported: int = 0  # failing misses already reported by the call phase


_STATE = pytest.StashKey[_TestSession]()


@pytest.fixture(scope="session")
def matgto_server(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A ``matgto serve`` started for the test session (:class:`matgto.testing.LocalServer`:
    ``.control``, ``.proxy``, ``.cassette_dir``, ``.client()``), stopped at its end.

    Binary: ``$MATGTO_BIN``, else ``matgto`` on ``PATH``; extra flags: ini
    ``matgto_serve_args``; cassettes in a temporary folder. Override this
    fixture in a ``conftest.py`` to start it otherwise (``start_server(...)``).
    """
    from .testing import ServerLaunchError, start_server

    try:
        server = start_server(None, *pytestconfig.getini("matgto_serve_args"))
    except ServerLaunchError as exc:
        pytest.fail(f"matgto_server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        if server.crashed():
            pytest.fail(f"matgto_server: the server died of signal {-server.proc.returncode}:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def matgto_client(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A :class:`matgto.Client` connected to the configured server (with
    ``local``, the ``matgto_server`` fixture's), shared by the session."""
    from .client import Client

    address = server_address(pytestconfig)
    if address.strip().lower() == LOCAL:
        address = request.getfixturevalue("matgto_server").control
    client = Client(address)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def matgto_cassette(request: pytest.FixtureRequest, matgto_client: Any) -> Iterator[Any]:
    """The test's :class:`matgto.CassetteSession`: a new session (``UseCassette``
    with ``new_session``, a renewed lease and the test as owner), stopped after
    the test. Replay misses fail the test unless configured to warn."""
    config = request.config
    marker = request.node.get_closest_marker(MARKER)
    try:
        name, mode, misses, options, faults = (
            _marker_arguments(*marker.args, **marker.kwargs) if marker else _marker_arguments()
        )
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {exc}") from None
    from .options import cassette_options

    try:  # bad option values are the marker's fault, not the server's
        cassette_options(**options)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {exc}") from None
    mode = config.getoption("matgto_mode") or mode
    forced = config.getoption("matgto_misses")
    if forced:
        misses = forced
    elif misses is not None:
        misses = _choice(misses, _MISSES, f"@pytest.mark.{MARKER}(misses=...)")
    else:
        misses = _choice(config.getini("matgto_misses"), _MISSES, "ini matgto_misses")
    name = name or cassette_name_for(request.node)

    from .session import CassetteSession

    if _choice(config.getini("matgto_session"), _SESSIONS, "ini matgto_session") == "default":
        session = CassetteSession(matgto_client, matgto_client.use_cassette(name, mode, **options))
    else:
        session = matgto_client.session(
            name, mode, lease=_lease(config), owner=owner_for(request.node.nodeid), **options
        )
    state = _TestSession(session=session, misses=misses)
    request.node.stash[_STATE] = state
    try:
        if faults.faults:
            session.add_faults(*faults.faults, seed=faults.seed)
        yield session
    finally:
        _finish(state)


def _finish(state: _TestSession) -> None:
    """Stops the test's session; reports the failing misses the call phase did not."""
    from .errors import SessionLostError
    from .misses import ReplayMissWarning, describe_misses, failing_misses

    session = state.session
    try:
        summary = session.stop()
    except SessionLostError as exc:
        pytest.fail(str(exc), pytrace=False)
    failing = failing_misses(summary.session.misses)[state.reported :]
    if not failing:
        return
    text = describe_misses(failing, cassette=session.name, session=session.id)
    if state.misses == "warn":
        warnings.warn(ReplayMissWarning(text), stacklevel=1)
    else:
        pytest.fail(f"{text}\n{_HOW_TO_WARN}", pytrace=False)


@pytest.fixture
def matgto_proxy(matgto_cassette: Any) -> str:
    """The proxy URL of the test's session, ``"http://127.0.0.1:PORT"``."""
    return str(matgto_cassette.proxy_url)


@pytest.fixture
def matgto_proxy_env(matgto_cassette: Any) -> Iterator[Dict[str, Optional[str]]]:
    """The test's session as the whole process's proxy for the test
    (:func:`matgto.testing.proxy_env`: ``HTTP(S)_PROXY``, ``NO_PROXY``, and
    ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` at the matgto CA), restored after it.
    For code that reads the environment instead of taking ``proxies=``."""
    from .testing import proxy_env

    with proxy_env(matgto_cassette) as values:
        yield values


@pytest.fixture(autouse=True)
def _matgto_marked(request: pytest.FixtureRequest) -> None:
    """Gives marked tests their session even when they do not ask for it."""
    node = request.node
    if (
        "matgto_cassette" not in getattr(request, "fixturenames", ())
        and node.get_closest_marker(MARKER) is not None
    ):
        request.getfixturevalue("matgto_cassette")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fails the test itself (its call phase) on the replay misses of its body."""
    outcome = yield
    if call.when != "call":
        return
    state = item.stash.get(_STATE, None)
    if state is None or state.misses != "fail":
        return
    report = outcome.get_result()
    if report.skipped:
        return
    from .errors import MatgtoError
    from .misses import describe_misses, failing_misses

    session = state.session
    try:
        info = session.refresh()
    except MatgtoError:
        return  # a lost session or an unreachable server: reported when it stops
    failing = failing_misses(info.misses)
    if not failing:
        return
    state.reported = len(failing)
    text = describe_misses(failing, cassette=session.name, session=session.id)
    if report.passed:
        report.outcome = "failed"
        report.longrepr = f"{text}\n{_HOW_TO_WARN}"
    else:
        report.sections.append(("matgto replay misses", text))
