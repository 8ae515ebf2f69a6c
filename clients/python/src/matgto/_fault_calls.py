"""The fault calls of :class:`~matgto.Client`: SetFaults, ClearFaults, and the
rules GetStatus reports (see :mod:`matgto.faults` for the rules themselves)."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Union

from ._proto import control_pb2
from ._rpc import _Rpc
from .errors import CassetteNotFoundError
from .faults import Fault, FaultLike, FaultSet, _added, fault_ids, fault_proto, parse_seed
from .session import DEFAULT_SESSION_ID


class _FaultCalls(_Rpc):
    """A base class of :class:`~matgto.Client`."""

    @staticmethod
    def _fault_session(session: Optional[str]) -> str:
        """The ``session`` field of SetFaults/ClearFaults: empty for the default session."""
        if session is None:
            return ""
        if not isinstance(session, str):
            raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
        return "" if session == DEFAULT_SESSION_ID else session

    def set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], *, seed: Optional[int] = None
    ) -> FaultSet:
        """Adds fault rules to ``session`` (``None`` or ``"default"``: the
        default session) and returns **all** of the session's rules, with the
        ids the server gave them, and its seed (:class:`~matgto.FaultSet`).

        ``faults``: :class:`~matgto.Fault` values, generated
        ``matgto.v1.Fault`` messages, or dicts of :class:`~matgto.Fault`
        arguments. ``seed`` reseeds the session's generator for probabilistic
        rules (``None`` keeps it). The rules apply in every mode until cleared
        or the session ends. Raises :class:`~matgto.errors.InvalidArgumentError`
        for a rule the server refuses (an RE2 pattern, a probability outside
        0..1, a status outside 100..999) and
        :class:`~matgto.errors.CassetteNotFoundError` for an unknown session.
        """
        response = self._set_faults(session, faults, seed)
        return FaultSet.from_protos(response.faults, response.seed)

    def _set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], seed: Optional[int]
    ) -> control_pb2.SetFaultsResponse:
        messages = [fault_proto(rule) for rule in faults]
        request = control_pb2.SetFaultsRequest(
            session=self._fault_session(session), faults=messages, seed=parse_seed(seed)
        )
        response: control_pb2.SetFaultsResponse = self._call("SetFaults", request)
        return response

    def add_fault(
        self,
        session: Optional[str] = None,
        fault: Optional[FaultLike] = None,
        *,
        seed: Optional[int] = None,
        **rule: Any,
    ) -> Fault:
        """Adds one fault rule to ``session`` and returns it as the server
        stored it (with its ``id``)::

            client.add_fault(session_id, status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/")
            client.add_fault(session_id, reset="mid-body", probability=0.1, seed=7)

        Either a ready ``fault`` (:class:`~matgto.Fault`, generated message,
        dict) or the keyword arguments of :class:`~matgto.Fault`. Errors as
        :meth:`set_faults`.
        """
        if fault is not None and rule:
            raise TypeError("add_fault takes a fault or keyword arguments, not both")
        result = self.set_faults(session, [Fault(**rule) if fault is None else fault], seed=seed)
        return _added(result, 1, self.address)[0]

    def clear_faults(
        self,
        session: Optional[str] = None,
        ids: Union[None, str, Fault, Iterable[Union[str, Fault]]] = None,
    ) -> List[Fault]:
        """Removes the fault rules ``ids`` (ids or :class:`~matgto.Fault`
        values the server returned) from ``session``, or all of them when
        ``ids`` is ``None``; returns the rules left. An empty list removes
        nothing. Raises :class:`~matgto.errors.CassetteNotFoundError` for an
        id the session does not have (or an unknown session)."""
        return [Fault.from_proto(message) for message in self._clear_faults(session, ids)]

    def _clear_faults(
        self, session: Optional[str], ids: Union[None, str, Fault, Iterable[Union[str, Fault]]]
    ) -> List[control_pb2.Fault]:
        wanted = fault_ids(ids)
        if wanted is not None and not wanted:
            return [rule.to_proto() for rule in self.faults(session)]
        request = control_pb2.ClearFaultsRequest(session=self._fault_session(session), ids=wanted or [])
        response: control_pb2.ClearFaultsResponse = self._call("ClearFaults", request)
        return list(response.faults)

    def faults(self, session: Optional[str] = None) -> FaultSet:
        """The fault rules of ``session`` with their ``applied`` counts, and its
        seed, from :meth:`status`. Raises
        :class:`~matgto.errors.CassetteNotFoundError` when the session is not open."""
        target = self._fault_session(session)
        status = self.status()
        if not target:
            if status.HasField("session"):
                return FaultSet.from_protos(status.session.faults, status.session.fault_seed)
            return FaultSet()
        for info in status.sessions:
            if info.id == target:
                return FaultSet.from_protos(info.faults, info.fault_seed)
        raise CassetteNotFoundError(
            f"no open session {target!r} (GetStatus does not list it)", method="GetStatus", address=self.address
        )
