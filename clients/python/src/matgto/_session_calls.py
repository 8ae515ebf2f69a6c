"""The cassette session calls of :class:`~matgto.Client`: start a cassette
(record, replay, use) in the default session, an open one or a new one; stop
it; renew a lease; list sessions; and the context managers that stop what they
started."""

from __future__ import annotations

import contextlib
import datetime
from typing import Any, Iterator, List, Optional

from ._proto import cassette_pb2, control_pb2
from ._rpc import _USE_DEFAULT, _Rpc
from .errors import MatgtoError
from .modes import (
    ExhaustedPolicyLike,
    MissPolicyLike,
    ModeLike,
    RepeatPolicyLike,
    WsTimingLike,
    parse_mode,
)
from .options import LatencyLike, MatchRulesLike, RedactRulesLike, cassette_options
from .session import CassetteSession, timestamp_to_datetime
from .session_requests import LeaseLike, _session_fields

#: The lease of sessions opened by :meth:`Client.session` and the pytest
#: plugin (renewed every third of it, 10 s).
DEFAULT_LEASE = datetime.timedelta(seconds=30)


class _SessionCalls(_Rpc):
    """A base class of :class:`~matgto.Client`."""

    def start_recording(
        self,
        name: str,
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
    ) -> control_pb2.SessionInfo:
        """Starts recording into cassette ``name`` (ending any cassette in use).

        The cassette file is overwritten when the recording is saved, by
        :meth:`stop_recording`. The options are stored with the cassette for
        later replays (``redact`` and ``store_decoded`` also shape what is
        written):

        * ``on_exhausted``: ``"repeat_last"`` (default) or ``"error"``;
        * ``repeat``: ``"sequential"`` (default) or ``"reuse"``;
        * ``on_miss``: ``"error"`` (default), ``"passthrough"`` or ``"record"``;
        * ``match``: :class:`~matgto.MatchRules`; ``redact``: :class:`~matgto.RedactRules`;
        * ``store_decoded``: store gzip/deflate/br bodies decoded;
        * ``ws_timing``: ``"fast"`` (default) or ``"as-recorded"``; ``ws_speed``: e.g. ``2.0``;
        * ``stream_timing`` / ``stream_speed``: the same for streamed HTTP bodies
          (Server-Sent Events, chunked bodies);
        * ``latency``: how fast replay answers: ``"fast"`` (default),
          ``"as-recorded"``, ``"200ms"``, ``"100ms±50ms"``, a timedelta or a
          :class:`~matgto.Latency`; ``latency_scale``: e.g. ``2.0`` (as-recorded);
        * ``proto_options``: a generated ``CassetteOptions`` message the
          other options are applied on top of.

        Sessions (every cassette-starting call takes these):

        * ``session``: the id of the open session to act on (default: the
          server's default session); ``CassetteNotFoundError`` if unknown;
        * ``new_session=True``: open a new session, with a proxy listener of
          its own (``SessionInfo.id``, ``proxy_address``, ``proxy_url``);
        * ``lease`` (new sessions, timedelta or seconds, 1 s..1 h): the session
          ends unless renewed (:meth:`renew_session`) within it; ``None``: no lease;
        * ``owner`` (new sessions): free text shown by :meth:`status`.

        :meth:`session` does all of this for you, renewals included.

        Bad rules (an RE2 pattern, a JSON pointer) raise
        :class:`~matgto.errors.InvalidArgumentError`. Returns the new ``SessionInfo``.
        """
        request = control_pb2.StartRecordingRequest(
            name=self._name(name),
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
        response: control_pb2.StartRecordingResponse = self._call("StartRecording", request)
        return response.session

    def stop_recording(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """Ends the cassette in use in ``session`` (default: the default
        session), whatever its mode, saving what was recorded. A session other
        than the default one is closed with it (its port too).

        Returns the ``SessionSummary`` (counters, misses, ``saved_path``,
        unused interactions, ``end_reason``, ``ended_at``, ``save_error``).
        Raises :class:`~matgto.errors.FailedPreconditionError` when the
        default session has no cassette in use and
        :class:`~matgto.errors.CassetteNotFoundError` for an unknown session.
        """
        if session is not None and not isinstance(session, str):
            raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
        response: control_pb2.StopRecordingResponse = self._call(
            "StopRecording", control_pb2.StopRecordingRequest(session=session or "")
        )
        return response.summary

    def stop(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """Same as :meth:`stop_recording`."""
        return self.stop_recording(session)

    def renew_session(self, session: str, *, timeout: Any = _USE_DEFAULT) -> datetime.datetime:
        """Extends the lease of ``session`` by its lease length and returns the
        new expiry (aware UTC datetime). Raises
        :class:`~matgto.errors.CassetteNotFoundError` when the session is not
        open (it ended or never existed)."""
        if not isinstance(session, str) or not session:
            raise ValueError("renew_session needs the id of a session")
        response: control_pb2.RenewSessionResponse = self._call(
            "RenewSession", control_pb2.RenewSessionRequest(session=session), timeout=timeout
        )
        expires = timestamp_to_datetime(response, "lease_expires_at")
        if expires is None:
            raise MatgtoError("RenewSession returned no lease_expires_at", method="RenewSession", address=self.address)
        return expires

    def sessions(self) -> List[control_pb2.SessionInfo]:
        """Every open session with a cassette in use (``status().sessions``)."""
        return list(self.status().sessions)

    def ended_sessions(self) -> List[control_pb2.SessionSummary]:
        """Sessions that ended recently, most recent first, with ``end_reason``
        (``status().ended_sessions``)."""
        return list(self.status().ended_sessions)

    def replay(
        self,
        name: str,
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
    ) -> control_pb2.SessionInfo:
        """Replays cassette ``name``; raises
        :class:`~matgto.errors.CassetteNotFoundError` if it does not exist.

        The options (as for :meth:`start_recording`) override the ones stored
        in the cassette for this session, field by field (``match`` and
        ``redact`` replace the stored rules whole).
        """
        request = control_pb2.ReplayRequest(
            name=self._name(name),
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
        response: control_pb2.ReplayResponse = self._call("Replay", request)
        return response.session

    def use_cassette(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
    ) -> control_pb2.SessionInfo:
        """Uses cassette ``name`` in ``mode``: ``"auto"`` (replay when the
        cassette exists, record otherwise), ``"record"``, ``"replay"`` or
        ``"passthrough"``. ``mode=None`` leaves the choice to the server's
        default mode. Options as for :meth:`start_recording`."""
        request = control_pb2.UseCassetteRequest(
            name=self._name(name),
            mode=None if mode is None else parse_mode(mode).proto_name,
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
        response: control_pb2.UseCassetteResponse = self._call("UseCassette", request)
        return response.session

    # -- context managers -----------------------------------------------------

    def session(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        lease: Optional[LeaseLike] = DEFAULT_LEASE,
        owner: Optional[str] = None,
        **options: Any,
    ) -> CassetteSession:
        """Opens a **new session** using cassette ``name`` in ``mode`` (default
        ``"auto"``) and returns it; use it as a context manager, which stops
        it on exit::

            with client.session("users/get-1") as s:
                requests.get(url, proxies=s.proxies())   # s.proxy_url, s.id

        The session has a proxy listener of its own, so sessions of parallel
        tests never mix. It has a ``lease`` (default :data:`DEFAULT_LEASE`, 30 s;
        ``None``: none), renewed by a daemon thread every lease/3 until the
        session is stopped; if the process dies, the server ends the session
        after the lease. A renewal answered NOT_FOUND marks the session
        :attr:`~CassetteSession.lost`, and :meth:`~CassetteSession.stop` then
        raises :class:`~matgto.errors.SessionLostError`. ``options``: the
        keyword options of :meth:`use_cassette`.
        """
        info = self.use_cassette(name, mode, new_session=True, lease=lease, owner=owner, **options)
        return CassetteSession(self, info, renew=True)

    @contextlib.contextmanager
    def _ending(self, info: control_pb2.SessionInfo) -> Iterator[CassetteSession]:
        with CassetteSession(self, info, renew=True) as session:
            yield session

    @contextlib.contextmanager
    def recording(self, name: str, **options: Any) -> Iterator[CassetteSession]:
        """``with client.recording(name) as session:`` records into ``name`` and
        stops the session on exit, even on an exception; ``session.summary``
        holds the result afterwards. ``options``: the keyword options of
        :meth:`start_recording` (``new_session=True`` with a ``lease`` is
        renewed in the background, as :meth:`session` does)."""
        with self._ending(self.start_recording(name, **options)) as session:
            yield session

    @contextlib.contextmanager
    def replaying(self, name: str, **options: Any) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, replaying cassette ``name`` (options as :meth:`replay`)."""
        with self._ending(self.replay(name, **options)) as session:
            yield session

    @contextlib.contextmanager
    def cassette(
        self, name: str, mode: Optional[ModeLike] = "auto", **options: Any
    ) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, with :meth:`use_cassette` (default mode ``"auto"``)."""
        with self._ending(self.use_cassette(name, mode, **options)) as session:
            yield session
