"""The sessions and event streams of :mod:`matgto.aio` (split from it for size)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, List, Optional, Union

import grpc
import grpc.aio

from ._proto import control_pb2
from .errors import CassetteNotFoundError, MatgtoError, error_from_rpc
from .faults import Fault, FaultLike, FaultSet, _added
from .session import SessionView

if TYPE_CHECKING:  # pragma: no cover
    from .aio import Client

_FaultIds = Union[None, str, Fault, Iterable[Union[str, Fault]]]


class _Status:
    """A finished call's status, shaped as :func:`~matgto.errors.error_from_rpc` reads it."""

    def __init__(self, code: grpc.StatusCode, details: Optional[str]) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> Optional[str]:
        return self._details


class _Opening:
    """A session being opened: ``await`` it, or ``async with`` it (stopped on exit)."""

    def __init__(self, client: "Client", starting: Any) -> None:
        self._client = client
        self._starting = starting
        self._session: Optional[CassetteSession] = None

    async def _open(self) -> "CassetteSession":
        self._session = CassetteSession(self._client, await self._starting, renew=True)
        return self._session

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> "CassetteSession":
        return await self._open()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._session is not None
        await self._session.__aexit__(exc_type, exc, tb)


class CassetteSession(SessionView):
    """The asyncio twin of :class:`matgto.CassetteSession`: the same
    properties; the calls are coroutines; ``async with`` stops it."""

    def __init__(self, client: "Client", info: control_pb2.SessionInfo, *, renew: bool = False) -> None:
        super().__init__(client, info)
        self.client: "Client" = client
        self._renewer: Optional[asyncio.Task[None]] = None
        lease = self.lease
        if renew and lease is not None and self.id and not self.is_default:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_every(lease.total_seconds() / 3.0))

    def _shared_proxy_address(self) -> str:
        return self.client._proxy_address or ""

    async def _renew_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew(timeout=max(interval, 1.0))
            except CassetteNotFoundError as exc:
                self._mark_lost(exc)
                return
            except MatgtoError as exc:
                if self.client.closed:
                    return
                self.renew_error = exc  # transient: retried

    async def ca_bundle(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
        return await self.client.ca_bundle(path)

    async def add_faults(self, *faults: FaultLike, seed: Optional[int] = None) -> List[Fault]:
        """See :meth:`matgto.CassetteSession.add_faults`."""
        response = await self.client._set_faults(self._target, faults, seed)
        self._store_faults(response.faults, response.seed)
        added = _added(FaultSet.from_protos(response.faults, response.seed), len(faults), self.client.address)
        self._added_fault_ids.extend(rule.id for rule in added)
        return added

    async def add_fault(self, fault: Optional[FaultLike] = None, *, seed: Optional[int] = None, **rule: Any) -> Fault:
        """See :meth:`matgto.CassetteSession.add_fault`."""
        if fault is not None and rule:
            raise TypeError("add_fault takes a fault or keyword arguments, not both")
        return (await self.add_faults(Fault(**rule) if fault is None else fault, seed=seed))[0]

    async def clear_faults(self, ids: _FaultIds = None) -> List[Fault]:
        """See :meth:`matgto.CassetteSession.clear_faults`."""
        left = await self.client._clear_faults(self._target, ids)
        self._store_faults(left)
        return [Fault.from_proto(message) for message in left]

    @contextlib.asynccontextmanager
    async def with_fault(
        self, fault: Optional[FaultLike] = None, *, seed: Optional[int] = None, **rule: Any
    ) -> AsyncIterator[Fault]:
        """``async with s.with_fault(status=503):`` a rule for the block only."""
        added = await self.add_fault(fault, seed=seed, **rule)
        try:
            yield added
        finally:
            if self.summary is None:
                with contextlib.suppress(CassetteNotFoundError):
                    await self.clear_faults([added.id])

    async def events(self, cassette: Optional[str] = None) -> "EventStream":
        """This session's live events."""
        return await self.client.watch_events(session=self.id, cassette=cassette)

    async def renew(self, *, timeout: Optional[float] = None) -> datetime.datetime:
        """Renews the lease now and returns the new expiry."""
        expires = await self.client.renew_session(self.id, **({} if timeout is None else {"timeout": timeout}))
        self._lease_expires_at = expires
        self.renewals += 1
        return expires

    async def refresh(self) -> control_pb2.SessionInfo:
        """See :meth:`matgto.CassetteSession.refresh`."""
        status = await self.client.status()
        found = status.session if self.is_default and status.HasField("session") else None
        for info in [] if self.is_default else status.sessions:
            if info.id == self.id:
                found = info
        if found is None:
            raise self._lost_error(status, "is no longer open")
        self.info = found
        return self.info

    async def stop(self) -> control_pb2.SessionSummary:
        """See :meth:`matgto.CassetteSession.stop` (idempotent; SessionLostError when it had ended)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
            self._renewer = None
        if self.summary is not None:
            return self.summary
        target = "" if self.is_default else self.id
        if self.is_default and self._added_fault_ids:
            with contextlib.suppress(MatgtoError):
                left = {rule.id for rule in await self.client.faults(target)}
                mine = [i for i in self._added_fault_ids if i in left]
                if mine:
                    await self.client.clear_faults(target, mine)
        try:
            self.summary = await self.client.stop_recording(session=target)
        except CassetteNotFoundError:
            if self.is_default:
                raise
            status = None
            with contextlib.suppress(MatgtoError):
                status = await self.client.status()
            error = self._lost_error(status, "had already ended when it was stopped")
            if error.summary is not None:
                self.summary = error.summary
            raise error from None
        return self.summary

    async def __aenter__(self) -> "CassetteSession":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.stop()
            return
        with contextlib.suppress(MatgtoError):  # the block's own exception matters more
            await self.stop()


class EventStream:
    """The asyncio twin of :class:`matgto.EventStream`: ``async for event in stream``."""

    def __init__(self, call: Any, *, address: Optional[str] = None) -> None:
        self._call = call
        self._address = address
        self._closed = False
        #: Events lost so far (the sum of every ``event.dropped``).
        self.dropped = 0

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> control_pb2.Event:
        if self._closed:
            raise StopAsyncIteration
        try:
            event = await self._call.read()
        except asyncio.CancelledError:
            if self._closed:
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as exc:
            if self._closed:
                raise StopAsyncIteration from None
            raise error_from_rpc(exc, method="WatchEvents", address=self._address) from None
        if event is grpc.aio.EOF:
            raise StopAsyncIteration
        self.dropped += event.dropped
        return event  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stops watching (cancels the call). Idempotent."""
        if not self._closed:
            self._closed = True
            self._call.cancel()

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
