"""A cassette session on the server, as a Python object.

:class:`CassetteSession` wraps the ``SessionInfo`` of a session in use: its
id, its proxy, its lease, its misses and, once stopped, its
``SessionSummary``. A session this client opened with ``new_session=True``
and a lease is renewed by a daemon thread every lease/3 until it is stopped
(clients/CONTRACT.md, "Sessions (issue 9)").
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Union

from ._proto import control_pb2
from .errors import CassetteNotFoundError, MatgtoError, SessionLostError
from .faults import Fault, FaultLike, FaultSet, _added
from .misses import describe_misses, failing_misses
from .modes import Mode
from .options import Latency
from .proxy_address import usable_proxy_address, usable_proxy_url

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .events import EventStream

__all__ = ["DEFAULT_SESSION_ID", "CassetteSession", "SessionView", "timestamp_to_datetime", "duration_to_timedelta"]

#: The id of the server's default session (what requests naming no session use).
DEFAULT_SESSION_ID = "default"


def timestamp_to_datetime(message: Any, field: str) -> Optional[datetime.datetime]:
    """``message.field`` (a ``google.protobuf.Timestamp``) as an aware UTC
    datetime, or ``None`` when the field is unset."""
    if not message.HasField(field):
        return None
    value = getattr(message, field)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return epoch + datetime.timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def duration_to_timedelta(message: Any, field: str) -> Optional[datetime.timedelta]:
    """``message.field`` (a ``google.protobuf.Duration``) as a timedelta, or
    ``None`` when the field is unset."""
    if not message.HasField(field):
        return None
    value = getattr(message, field)
    return datetime.timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


#: The password of shared-port proxy URLs (the server reads only the user).
SHARED_PROXY_PASSWORD = "matgto"


def _with_password(url: str) -> str:
    """``http://user@host`` -> ``http://user:matgto@host``; other URLs unchanged."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0]
    if not sep or "@" not in authority:
        return url
    user, _, address = rest.partition("@")
    return url if ":" in user else f"{scheme}://{user}:{SHARED_PROXY_PASSWORD}@{address}"


class _Renewer:
    """Renews a session's lease from a daemon thread every ``interval`` seconds
    until :meth:`stop`. A NOT_FOUND answer means the session is gone: the
    renewer records it and ends; other errors are kept and retried."""

    def __init__(self, session: "CassetteSession", interval: float) -> None:
        self._session = session
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"matgto-renew-{session.id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            # A renewal in flight ends within the call's deadline (interval).
            self._thread.join(timeout=self.interval + 1.0)

    def _run(self) -> None:
        session = self._session
        while not self._stopped.wait(self.interval):
            try:
                session.renew(timeout=max(self.interval, 1.0))
            except CassetteNotFoundError as exc:
                session._mark_lost(exc)
                return
            except Exception as exc:  # noqa: BLE001 - a daemon thread must not die of it
                if session.client.closed:
                    return  # the client was closed under the session: nothing to renew with
                if not isinstance(exc, MatgtoError):
                    exc = MatgtoError(f"renewing session {session.id} failed: {exc!r}", method="RenewSession")
                session.renew_error = exc  # transient (server busy, network): retried


class SessionView:
    """What a session's ``SessionInfo`` (and, once stopped, its ``SessionSummary``)
    says, shared by :class:`CassetteSession` and :class:`matgto.aio.CassetteSession`;
    no calls to the server.

    Attributes:
        client: The client that started the session.
        info: The ``SessionInfo`` the server returned when the session started
            (refreshed by ``refresh()``).
        summary: The ``SessionSummary`` once the session ended (``None`` until then).
        renewals: How many times the lease was renewed.
        renew_error: The last renewal error that was retried, if any.
    """

    def __init__(self, client: Any, info: control_pb2.SessionInfo) -> None:
        self.client = client
        self.info = info
        self.summary: Optional[control_pb2.SessionSummary] = None
        self.renewals = 0
        self.renew_error: Optional[MatgtoError] = None
        self._lock = threading.Lock()
        self._lost: Optional[MatgtoError] = None
        self._lease_expires_at = timestamp_to_datetime(info, "lease_expires_at")
        self._added_fault_ids: List[str] = []

    @property
    def id(self) -> str:
        """``"default"`` or ``"s-"`` and 16 hex digits (empty from servers without sessions)."""
        return self.info.id

    @property
    def is_default(self) -> bool:
        """Whether this is the server's default session."""
        return self.info.id in ("", DEFAULT_SESSION_ID)

    @property
    def name(self) -> str:
        """The cassette name."""
        return self.info.cassette

    @property
    def mode(self) -> Mode:
        """The effective mode (``AUTO`` resolved to ``RECORD`` or ``REPLAY``)."""
        return Mode(self.info.mode)

    @property
    def requested_mode(self) -> Mode:
        """The mode that was asked for."""
        return Mode(self.info.requested_mode)

    @property
    def owner(self) -> str:
        """Who opened the session (free text)."""
        return self.info.owner

    @property
    def opened_at(self) -> Optional[datetime.datetime]:
        """When the session was opened (aware UTC)."""
        return timestamp_to_datetime(self.info, "opened_at")

    @property
    def age(self) -> Optional[datetime.timedelta]:
        """Time since :attr:`opened_at` when :attr:`info` was last fetched."""
        return duration_to_timedelta(self.info, "age")

    @property
    def lease(self) -> Optional[datetime.timedelta]:
        """The lease length; ``None`` for a session without a lease."""
        return duration_to_timedelta(self.info, "lease")

    @property
    def lease_expires_at(self) -> Optional[datetime.datetime]:
        """When the session ends unless renewed (updated by each renewal)."""
        with self._lock:
            return self._lease_expires_at

    @property
    def proxy_address(self) -> str:
        """``"host:port"`` of the session's own proxy listener (the shared
        proxy port for the default session), usable from this machine."""
        if self.info.proxy_address:
            return usable_proxy_address(self.info.proxy_address, self.client.address)
        return self._shared_proxy_address()  # servers without sessions

    def _shared_proxy_address(self) -> str:
        return str(self.client.proxy_address())

    @property
    def proxy_url(self) -> str:
        """``"http://" + proxy_address``: a proxy URL any HTTP client takes as is."""
        return "http://" + self.proxy_address

    def proxies(self) -> Dict[str, str]:
        """A ``proxies`` mapping for :mod:`requests` with :attr:`proxy_url`."""
        url = self.proxy_url
        return {"http": url, "https": url}

    @property
    def shared_proxy_url(self) -> str:
        """``SessionInfo.proxy_url``: the shared proxy port with the session id
        as proxy user and a password the server ignores
        (``"http://s-0123456789abcdef:matgto@127.0.0.1:8888"``); the HTTP
        client sends it as ``Proxy-Authorization: Basic``. A URL the server
        gives without a password gets ``:matgto``: :mod:`requests` sends no
        credential for a user alone, :mod:`urllib.request` none for an empty
        password. Use it where only the shared port is reachable."""
        if self.info.proxy_url:
            return _with_password(usable_proxy_url(self.info.proxy_url, self.client.address))
        return self.proxy_url

    def shared_proxies(self) -> Dict[str, str]:
        """A ``proxies`` mapping for :mod:`requests` with :attr:`shared_proxy_url`."""
        url = self.shared_proxy_url
        return {"http": url, "https": url}

    @property
    def saved_path(self) -> str:
        """Where the recording was saved (empty when nothing was written)."""
        return self.summary.saved_path if self.summary is not None else ""

    @property
    def unused_interactions(self) -> List[int]:
        """Indexes of recorded interactions that replay never used."""
        return list(self.summary.unused_interactions) if self.summary is not None else []

    @property
    def end_reason(self) -> Optional[str]:
        """Why the session ended (``"stopped"``, ``"replaced"``, ``"lease-expired"``,
        ``"shutdown"``); ``None`` while it is open."""
        return self.summary.end_reason if self.summary is not None else None

    @property
    def ended_at(self) -> Optional[datetime.datetime]:
        """When the session ended; ``None`` while it is open."""
        return timestamp_to_datetime(self.summary, "ended_at") if self.summary is not None else None

    @property
    def save_error(self) -> str:
        """Why saving the recording failed (empty when it did not)."""
        return self.summary.save_error if self.summary is not None else ""

    @property
    def warnings(self) -> List[str]:
        """What the recording warns about, e.g. a body a redaction rule could not be
        applied to (stored as sent, or not stored with ``on_unredactable`` REFUSE)."""
        return list(self.summary.warnings) if self.summary is not None else []

    @property
    def misses(self) -> List[control_pb2.Miss]:
        """Every miss, oldest first: from the summary once stopped, else from
        :attr:`info` (see :meth:`refresh`)."""
        info = self.summary.session if self.summary is not None else self.info
        return list(info.misses)

    @property
    def failing_misses(self) -> List[control_pb2.Miss]:
        """The misses that fail a test (reason ``no-match``, ``exhausted``, ``ws-mismatch``)."""
        return failing_misses(self.misses)

    def explain_misses(self) -> str:
        """:func:`matgto.misses.describe_misses` of :attr:`failing_misses` (empty when none)."""
        failing = self.failing_misses
        if not failing:
            return ""
        return describe_misses(failing, cassette=self.name, session=self.id)

    @property
    def lost(self) -> bool:
        """Whether a renewal found the session gone (NOT_FOUND)."""
        with self._lock:
            return self._lost is not None

    @property
    def _target(self) -> str:
        return "" if self.is_default else self.id

    @property
    def faults(self) -> FaultSet:
        """The session's fault rules (:class:`~matgto.Fault`, with ``id`` and
        ``applied``) as of the last :meth:`add_fault` / :meth:`clear_faults` /
        :meth:`refresh` (or the summary once stopped); a sequence with
        ``.seed``. :meth:`refresh` fetches current ``applied`` counts."""
        info = self.summary.session if self.summary is not None else self.info
        return FaultSet.from_protos(info.faults, info.fault_seed)

    @property
    def fault_seed(self) -> int:
        """The seed of the session's generator for probabilistic faults (re-run a
        failing test with ``add_fault(..., seed=this)`` for the same sequence)."""
        info = self.summary.session if self.summary is not None else self.info
        return info.fault_seed

    def _store_faults(self, faults: Iterable[control_pb2.Fault], seed: Optional[int] = None) -> None:
        with self._lock:
            del self.info.faults[:]
            self.info.faults.extend(faults)
            if seed is not None:
                self.info.fault_seed = seed

    @property
    def latency(self) -> Optional[Latency]:
        """The session's replay latency (:class:`~matgto.Latency`) as the server
        reported it in ``info.options``; ``None`` when not set (fast)."""
        info = self.summary.session if self.summary is not None else self.info
        if info.HasField("options") and info.options.HasField("latency"):
            return Latency.from_proto(info.options.latency)
        return None

    def _mark_lost(self, error: MatgtoError) -> None:
        with self._lock:
            self._lost = error

    def _lost_error(self, status: Optional[control_pb2.GetStatusResponse], what: str) -> SessionLostError:
        ended = None
        if status is not None:
            for summary in status.ended_sessions:
                if summary.session.id == self.id:
                    ended = summary
                    break
        message = f"matgto session {self.id} (cassette {self.name!r}) {what}"
        if ended is not None:
            ended_at = timestamp_to_datetime(ended, "ended_at")
            message += f": it ended ({ended.end_reason or 'unknown reason'}"
            message += f" at {ended_at.isoformat()})" if ended_at else ")"
            if ended.saved_path:
                message += f", its recording was saved to {ended.saved_path}"
            if ended.save_error:
                message += f", saving its recording failed: {ended.save_error}"
        with self._lock:
            lost = self._lost
        if lost is not None:
            message += f"; renewing its lease failed: {lost.message}"
        return SessionLostError(message, session_id=self.id, summary=ended, address=self.client.address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, name={self.name!r}, mode={self.mode.name})"


class CassetteSession(SessionView):
    """A cassette in use in one server session: what :meth:`Client.session`,
    :meth:`Client.recording`, :meth:`Client.replaying`, :meth:`Client.cassette`
    and the pytest fixture ``matgto_cassette`` give you.

    It is a context manager: leaving the ``with`` block stops the session
    (:meth:`stop`), even on an exception. For a session of its own
    (``new_session=True``), :attr:`proxy_url` / :meth:`proxies` point at the
    session's own listener; traffic through them is this session's only.

    Attributes:
        client: The client that started the session.
        info: The ``SessionInfo`` the server returned when the session started
            (refreshed by :meth:`refresh`).
        summary: The ``SessionSummary`` once the session ended (``None`` until then).
        renewals: How many times the lease was renewed.
        renew_error: The last renewal error that was retried, if any.
    """

    def __init__(self, client: "Client", info: control_pb2.SessionInfo, *, renew: bool = False) -> None:
        super().__init__(client, info)
        self._renewer: Optional[_Renewer] = None
        lease = self.lease
        if renew and lease is not None and self.id and self.id != DEFAULT_SESSION_ID:
            self._renewer = _Renewer(self, lease.total_seconds() / 3.0)
            self._renewer.start()

    def ca_bundle(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
        """See :meth:`Client.ca_bundle`."""
        return self.client.ca_bundle(path)

    def add_faults(self, *faults: FaultLike, seed: Optional[int] = None) -> List[Fault]:
        """Adds fault rules (:class:`~matgto.Fault` values, generated messages
        or dicts) to this session and returns them with their ids; ``seed``
        reseeds the generator of probabilistic rules. See :meth:`add_fault`."""
        response = self.client._set_faults(self._target, faults, seed)
        self._store_faults(response.faults, response.seed)
        result = FaultSet.from_protos(response.faults, response.seed)
        added = _added(result, len(faults), self.client.address)
        with self._lock:
            self._added_fault_ids.extend(rule.id for rule in added)
        return added

    def add_fault(self, fault: Optional[FaultLike] = None, *, seed: Optional[int] = None, **rule: Any) -> Fault:
        """Adds a fault rule to this session and returns it with its ``id``::

            s.add_fault(status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/.*")
            s.add_fault(delay=timedelta(seconds=2))          # or "2s"
            s.add_fault(hang=True, method="GET")
            s.add_fault(reset="mid-body", probability=0.1, seed=7)
            s.add_fault(bandwidth=100 * 1024, every_nth=3)
            s.add_fault(ws_drop_after=2, ws_delay=timedelta(milliseconds=300))  # WebSocket upgrades

        The keyword arguments are those of :class:`~matgto.Fault` (or pass a
        ready ``fault``). It applies in every mode until cleared or the session
        ends. A rule the server refuses (an RE2 pattern, a probability outside
        0..1) raises :class:`~matgto.errors.InvalidArgumentError`.
        """
        if fault is not None and rule:
            raise TypeError("add_fault takes a fault or keyword arguments, not both")
        return self.add_faults(Fault(**rule) if fault is None else fault, seed=seed)[0]

    def clear_faults(self, ids: Union[None, str, Fault, Iterable[Union[str, Fault]]] = None) -> List[Fault]:
        """Removes the rules ``ids`` (ids or :class:`~matgto.Fault` values), or
        every rule of the session when ``None``; returns the rules left.
        :class:`~matgto.errors.CassetteNotFoundError` for an unknown id."""
        left = self.client._clear_faults(self._target, ids)
        self._store_faults(left)
        return [Fault.from_proto(message) for message in left]

    @contextlib.contextmanager
    def with_fault(self, fault: Optional[FaultLike] = None, *, seed: Optional[int] = None, **rule: Any) -> Iterator[Fault]:
        """``with s.with_fault(status=503):`` adds a rule for the block and
        removes it afterwards (arguments as :meth:`add_fault`)."""
        added = self.add_fault(fault, seed=seed, **rule)
        try:
            yield added
        finally:
            if self.summary is None:
                try:
                    self.clear_faults([added.id])
                except CassetteNotFoundError:
                    pass  # already cleared, or the session ended

    def events(self, cassette: Optional[str] = None) -> "EventStream":
        """This session's live events: :meth:`Client.watch_events` filtered
        to :attr:`id` (and ``cassette``, when given)."""
        return self.client.watch_events(session=self.id, cassette=cassette)

    def renew(self, *, timeout: Optional[float] = None) -> datetime.datetime:
        """Renews the lease now (:meth:`Client.renew_session`, with the client's
        deadline unless ``timeout`` is given) and returns the new expiry."""
        if timeout is None:
            expires = self.client.renew_session(self.id)
        else:
            expires = self.client.renew_session(self.id, timeout=timeout)
        with self._lock:
            self._lease_expires_at = expires
            self.renewals += 1
        return expires

    def refresh(self) -> control_pb2.SessionInfo:
        """Fetches the session's current ``SessionInfo`` (counters, misses, age)
        from ``GetStatus`` into :attr:`info`. Raises :class:`SessionLostError`
        when the session is no longer open."""
        status = self.client.status()
        if self.is_default:
            if status.HasField("session"):
                self.info = status.session
                return self.info
        else:
            for info in status.sessions:
                if info.id == self.id:
                    self.info = info
                    return self.info
        raise self._lost_error(status, "is no longer open")

    def stop(self) -> control_pb2.SessionSummary:
        """Ends the session (``StopRecording``): saves what was recorded and,
        for a session other than the default one, closes it and its port.
        Stops the renewals first. Idempotent: later calls return the same summary.
        The server drops a closed session's fault rules; on the default
        session, the rules added through this object are cleared first.

        Raises :class:`SessionLostError` when the session had already ended
        (its lease expired, a renewal found it gone, another client stopped
        it); its ``summary`` is the server's summary of that end when it is
        still listed in ``GetStatus``'s ``ended_sessions``.
        """
        if self._renewer is not None:
            self._renewer.stop()
        if self.summary is not None:
            return self.summary
        target = "" if self.is_default else self.id
        if self.is_default and self._added_fault_ids:
            # The default session outlives its cassette: do not leave the rules
            # added through this object to whoever uses it next.
            try:
                left = {rule.id for rule in self.client.faults(target)}
                mine = [i for i in self._added_fault_ids if i in left]
                if mine:
                    self.client.clear_faults(target, mine)
            except MatgtoError:
                pass
        try:
            self.summary = self.client.stop_recording(session=target)
        except CassetteNotFoundError:
            if self.is_default:
                raise
            status = None
            try:
                status = self.client.status()
            except MatgtoError:
                pass
            error = self._lost_error(status, "had already ended when it was stopped")
            if error.summary is not None:
                self.summary = error.summary
            raise error from None
        return self.summary

    def __enter__(self) -> "CassetteSession":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.stop()
            return
        # The block's own exception matters more than a failure to stop.
        try:
            self.stop()
        except MatgtoError:
            pass
