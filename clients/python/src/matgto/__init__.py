"""Python client and pytest plugin for matgto-serge, a record/replay HTTP proxy for tests.

Record once, replay forever::

    import matgto, requests

    with matgto.Client("127.0.0.1:8889") as client:
        with client.session("users/get-1") as s:      # a new session: records, or replays if it exists
            r = requests.get("http://api.example/users/1", proxies=s.proxies())

Make a dependency slow or failing for one session::

    with client.session("orders/retry", latency="100ms±20ms") as s:
        s.add_fault(status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/")

asyncio: :mod:`matgto.aio` (``matgto.aio.Client``, same method names, ``async with``
sessions). Starting a server from tests, and the process's proxy variables:
:mod:`matgto.testing` (``start_server``, ``proxy_env``; the pytest fixture
``matgto_server``). Generated protobuf messages and stubs live in :mod:`matgto.v1`.
"""

from ._version import __version__
from .client import (
    API_VERSION,
    CHUNK_BYTES,
    DEFAULT_LEASE,
    DEFAULT_SERVER,
    SERVER_ENV,
    CassetteSession,
    Client,
    check_api_version,
    default_server_address,
)
from .errors import (
    CassetteNotFoundError,
    CorruptCassetteError,
    FaultNotFoundError,
    SessionNotFoundError,
    DeadlineExceededError,
    FailedPreconditionError,
    IncompatibleServerError,
    InvalidArgumentError,
    MatgtoError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServerUnavailableError,
    SessionLostError,
    UnauthenticatedError,
    UnimplementedError,
)
from .connection import TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV, TOKEN_ENV, ConnectionSettings
from .events import EventStream
from .faults import Fault, FaultSet
from .misses import ReplayMissWarning, describe_miss, describe_misses, failing_misses
from .modes import (
    BodyMatch,
    ExhaustedPolicy,
    LatencyMode,
    MatchField,
    MissPolicy,
    Mode,
    RepeatPolicy,
    ResetWhen,
    WsTiming,
)
from .options import Latency, MatchRules, RedactRules, cassette_options
from .naming import sanitize_cassette_name

__all__ = [
    "__version__",
    "API_VERSION",
    "CHUNK_BYTES",
    "DEFAULT_LEASE",
    "DEFAULT_SERVER",
    "SERVER_ENV",
    "CassetteSession",
    "EventStream",
    "Client",
    "check_api_version",
    "default_server_address",
    "CassetteNotFoundError",
    "SessionNotFoundError",
    "FaultNotFoundError",
    "CorruptCassetteError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "IncompatibleServerError",
    "InvalidArgumentError",
    "MatgtoError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "ServerUnavailableError",
    "SessionLostError",
    "UnauthenticatedError",
    "UnimplementedError",
    "TOKEN_ENV",
    "TLS_CA_ENV",
    "TLS_CERT_ENV",
    "TLS_KEY_ENV",
    "ConnectionSettings",
    "ReplayMissWarning",
    "describe_miss",
    "describe_misses",
    "failing_misses",
    "BodyMatch",
    "ExhaustedPolicy",
    "Fault",
    "FaultSet",
    "Latency",
    "LatencyMode",
    "MatchField",
    "MatchRules",
    "MissPolicy",
    "Mode",
    "RedactRules",
    "RepeatPolicy",
    "ResetWhen",
    "WsTiming",
    "cassette_options",
    "sanitize_cassette_name",
]
