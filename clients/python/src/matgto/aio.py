"""An :mod:`asyncio` client of the matgto control API, on :mod:`grpc.aio`.

Same method names as :class:`matgto.Client`, as coroutines; sessions are
async context managers::

    import matgto.aio

    async with matgto.aio.Client("127.0.0.1:8889") as client:
        async with client.session("users/get-1") as s:
            async with httpx.AsyncClient(proxy=s.proxy_url) as http:
                await http.get("http://api.example/users/1")

The options, errors, defaults (``$MATGTO_SERVER``, tokens, TLS) and the
``grpc.enable_http_proxy=0`` channel option are those of :class:`matgto.Client`.
A session opened with :meth:`Client.session` renews its lease from an
:mod:`asyncio` task of the loop it was opened in. Create the client inside a
running event loop and use it from that loop only.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from ._proto import cassette_pb2, control_pb2, control_pb2_grpc
from ._cassette_calls import CHUNK_BYTES
from ._session_calls import DEFAULT_LEASE
from .api_version import check_api_version
from .client import Client as _SyncClient
from .connection import (
    ConnectionSettings,
    PemSource,
    control_channel_options,
    default_server_address,
    resolve_connection,
    split_scheme,
)
from .errors import CassetteNotFoundError, MatgtoError, ServerUnavailableError, error_from_rpc
from .faults import Fault, FaultLike, FaultSet, _added, fault_ids, fault_proto, parse_seed
from .modes import ModeLike, parse_mode
from .options import cassette_options
from ._aio_session import CassetteSession, EventStream, _Opening, _Status
from .proxy_address import usable_proxy_address
from .session import timestamp_to_datetime
from .session_requests import LeaseLike, _duration, _session_fields

__all__ = ["Client", "CassetteSession", "EventStream"]

_USE_DEFAULT: Any = object()
_FaultIds = Union[None, str, Fault, Iterable[Union[str, Fault]]]


class Client:
    """The asyncio twin of :class:`matgto.Client` (same arguments). Use
    ``async with`` or ``await client.close()``."""

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        timeout: Optional[float] = 10.0,
        check_version: bool = True,
        channel: Optional[grpc.aio.Channel] = None,
        channel_options: Sequence[Tuple[str, Any]] = (),
        token: Optional[str] = None,
        tls: Optional[bool] = None,
        tls_ca: Optional[PemSource] = None,
        tls_cert: Optional[PemSource] = None,
        tls_key: Optional[PemSource] = None,
    ) -> None:
        target, https = split_scheme(address or default_server_address())
        self.address: str = target
        self.timeout = timeout
        self._check_version = check_version
        self._metadata: Tuple[Tuple[str, str], ...] = ()
        if channel is None:
            if https and tls is False:
                raise ValueError(f"tls=False (plaintext) contradicts the address {address!r}")
            self.connection: Optional[ConnectionSettings] = resolve_connection(
                self.address, token=token, tls=True if https else tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key
            )
            # The control channel never goes through HTTP(S)_PROXY / grpc_proxy.
            options = control_channel_options(channel_options)
            settings = self.connection
            if settings.tls:
                credentials = grpc.ssl_channel_credentials(settings.ca, settings.key, settings.cert)
                if settings.token:
                    credentials = grpc.composite_channel_credentials(
                        credentials, grpc.access_token_call_credentials(settings.token)
                    )
                self._channel = grpc.aio.secure_channel(self.address, credentials, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(self.address, options=options)
                if settings.token:  # no call credentials on plaintext channels: plain metadata
                    self._metadata = (("authorization", f"Bearer {settings.token}"),)
            self._owns_channel = True
        else:
            if token is not None or tls is not None or tls_ca or tls_cert or tls_key:
                raise ValueError("a ready channel carries its own credentials: pass token/tls options or channel, not both")
            self.connection = None
            self._channel = channel
            self._owns_channel = False
        self._stub: Any = control_pb2_grpc.ProxyControlStub(self._channel)  # type: ignore[no-untyped-call]
        self._version_ok = False
        self._proxy_address: Optional[str] = None
        self._ca_dir: Optional[str] = None
        self._closed = False

    # -- plumbing -----------------------------------------------------------

    async def _ready(self, method: str, verify: bool = True) -> None:
        if self._closed:
            raise MatgtoError("the matgto client is closed", method=method, address=self.address)
        if verify and self._check_version and not self._version_ok:
            await self.status()

    async def _call(self, method: str, request: Any, *, verify: bool = True, timeout: Any = _USE_DEFAULT) -> Any:
        await self._ready(method, verify)
        deadline = self.timeout if timeout is _USE_DEFAULT else timeout
        try:
            return await getattr(self._stub, method)(request, timeout=deadline, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method=method, address=self.address) from None

    # -- control API ----------------------------------------------------------

    async def status(self) -> control_pb2.GetStatusResponse:
        """See :meth:`matgto.Client.status`."""
        status: control_pb2.GetStatusResponse = await self._call(
            "GetStatus", control_pb2.GetStatusRequest(), verify=False
        )
        if self._check_version:
            check_api_version(status, address=self.address)
        self._version_ok = True
        if status.proxy_address:
            self._proxy_address = usable_proxy_address(status.proxy_address, self.address)
        return status

    async def _start(
        self, method: str, request: Any, session: Optional[str], new_session: bool,
        lease: Optional[LeaseLike], owner: Optional[str], options: Dict[str, Any],
    ) -> control_pb2.SessionInfo:  # fmt: skip
        message = cassette_options(**options)
        if message is not None:
            request.options.CopyFrom(message)
        _session_fields(request, session, new_session, lease, owner)
        response = await self._call(method, request)
        info: control_pb2.SessionInfo = response.session
        return info

    async def start_recording(
        self, name: str, *, session: Optional[str] = None, new_session: bool = False,
        lease: Optional[LeaseLike] = None, owner: Optional[str] = None, **options: Any,
    ) -> control_pb2.SessionInfo:  # fmt: skip
        """See :meth:`matgto.Client.start_recording` (same keyword options)."""
        request = control_pb2.StartRecordingRequest(name=_SyncClient._name(name))
        return await self._start("StartRecording", request, session, new_session, lease, owner, options)

    async def replay(
        self, name: str, *, session: Optional[str] = None, new_session: bool = False,
        lease: Optional[LeaseLike] = None, owner: Optional[str] = None, **options: Any,
    ) -> control_pb2.SessionInfo:  # fmt: skip
        """See :meth:`matgto.Client.replay`."""
        request = control_pb2.ReplayRequest(name=_SyncClient._name(name))
        return await self._start("Replay", request, session, new_session, lease, owner, options)

    async def use_cassette(
        self, name: str, mode: Optional[ModeLike] = "auto", *, session: Optional[str] = None,
        new_session: bool = False, lease: Optional[LeaseLike] = None, owner: Optional[str] = None, **options: Any,
    ) -> control_pb2.SessionInfo:  # fmt: skip
        """See :meth:`matgto.Client.use_cassette`."""
        request = control_pb2.UseCassetteRequest(
            name=_SyncClient._name(name), mode=None if mode is None else parse_mode(mode).proto_name
        )
        return await self._start("UseCassette", request, session, new_session, lease, owner, options)

    async def stop_recording(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """See :meth:`matgto.Client.stop_recording`."""
        if session is not None and not isinstance(session, str):
            raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
        response = await self._call("StopRecording", control_pb2.StopRecordingRequest(session=session or ""))
        summary: control_pb2.SessionSummary = response.summary
        return summary

    async def stop(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """Same as :meth:`stop_recording`."""
        return await self.stop_recording(session)

    async def renew_session(self, session: str, *, timeout: Any = _USE_DEFAULT) -> datetime.datetime:
        """See :meth:`matgto.Client.renew_session`."""
        if not isinstance(session, str) or not session:
            raise ValueError("renew_session needs the id of a session")
        response = await self._call("RenewSession", control_pb2.RenewSessionRequest(session=session), timeout=timeout)
        expires = timestamp_to_datetime(response, "lease_expires_at")
        if expires is None:
            raise MatgtoError("RenewSession returned no lease_expires_at", method="RenewSession", address=self.address)
        return expires

    async def sessions(self) -> List[control_pb2.SessionInfo]:
        """Every open session with a cassette in use."""
        return list((await self.status()).sessions)

    async def ended_sessions(self) -> List[control_pb2.SessionSummary]:
        """Sessions that ended recently, most recent first."""
        return list((await self.status()).ended_sessions)

    # -- faults -------------------------------------------------------------------

    async def _set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], seed: Optional[int]
    ) -> control_pb2.SetFaultsResponse:
        request = control_pb2.SetFaultsRequest(
            session=_SyncClient._fault_session(session), faults=[fault_proto(f) for f in faults], seed=parse_seed(seed)
        )
        response: control_pb2.SetFaultsResponse = await self._call("SetFaults", request)
        return response

    async def set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], *, seed: Optional[int] = None
    ) -> FaultSet:
        """See :meth:`matgto.Client.set_faults`."""
        response = await self._set_faults(session, faults, seed)
        return FaultSet.from_protos(response.faults, response.seed)

    async def add_fault(
        self, session: Optional[str] = None, fault: Optional[FaultLike] = None, *, seed: Optional[int] = None, **rule: Any
    ) -> Fault:
        """See :meth:`matgto.Client.add_fault`."""
        if fault is not None and rule:
            raise TypeError("add_fault takes a fault or keyword arguments, not both")
        result = await self.set_faults(session, [Fault(**rule) if fault is None else fault], seed=seed)
        return _added(result, 1, self.address)[0]

    async def _clear_faults(self, session: Optional[str], ids: _FaultIds) -> List[control_pb2.Fault]:
        wanted = fault_ids(ids)
        if wanted is not None and not wanted:
            return [rule.to_proto() for rule in await self.faults(session)]
        request = control_pb2.ClearFaultsRequest(session=_SyncClient._fault_session(session), ids=wanted or [])
        response = await self._call("ClearFaults", request)
        return list(response.faults)

    async def clear_faults(self, session: Optional[str] = None, ids: _FaultIds = None) -> List[Fault]:
        """See :meth:`matgto.Client.clear_faults`."""
        return [Fault.from_proto(message) for message in await self._clear_faults(session, ids)]

    async def faults(self, session: Optional[str] = None) -> FaultSet:
        """See :meth:`matgto.Client.faults`."""
        target = _SyncClient._fault_session(session)
        status = await self.status()
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

    # -- cassette management ------------------------------------------------------

    async def list_cassettes(self, prefix: str = "") -> List[control_pb2.CassetteInfo]:
        """See :meth:`matgto.Client.list_cassettes`."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        response = await self._call("ListCassettes", control_pb2.ListCassettesRequest(prefix=prefix))
        return list(response.cassettes)

    async def get_cassette_bytes(self, name: str) -> bytes:
        """See :meth:`matgto.Client.get_cassette_bytes`."""
        request = control_pb2.GetCassetteRequest(name=_SyncClient._name(name))
        await self._ready("GetCassette")
        try:
            call = self._stub.GetCassette(request, timeout=self.timeout, metadata=self._metadata)
            return b"".join([chunk.data async for chunk in call])
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method="GetCassette", address=self.address) from None

    async def get_cassette(self, name: str) -> cassette_pb2.Cassette:
        """See :meth:`matgto.Client.get_cassette`."""
        cassette = cassette_pb2.Cassette()
        try:
            cassette.ParseFromString(await self.get_cassette_bytes(name))
        except MatgtoError:
            raise
        except Exception as exc:  # google.protobuf.message.DecodeError
            raise MatgtoError(
                f"GetCassette returned bytes that are not a matgto.v1.Cassette: {exc}",
                method="GetCassette",
                address=self.address,
            ) from exc
        return cassette

    async def put_cassette(
        self, cassette: Union[cassette_pb2.Cassette, bytes, bytearray, memoryview], name: Optional[str] = None
    ) -> control_pb2.CassetteInfo:
        """See :meth:`matgto.Client.put_cassette`."""
        if isinstance(cassette, cassette_pb2.Cassette):
            data, own_name = cassette.SerializeToString(), cassette.name
        elif isinstance(cassette, (bytes, bytearray, memoryview)):
            data, own_name = bytes(cassette), ""
            if name is None:
                parsed = cassette_pb2.Cassette()
                try:
                    parsed.ParseFromString(data)
                except Exception as exc:
                    raise ValueError(f"put_cassette: the bytes are not a matgto.v1.Cassette: {exc}") from None
                own_name = parsed.name
        else:
            raise TypeError(f"put_cassette takes a matgto.v1.Cassette or bytes, not {type(cassette).__name__}")
        target = own_name if name is None else _SyncClient._name(name)
        if not target:
            raise ValueError("put_cassette: the cassette has no name; pass name=")
        chunks = [control_pb2.CassetteChunk(name=target, data=data[:CHUNK_BYTES])]
        chunks += [
            control_pb2.CassetteChunk(data=data[o : o + CHUNK_BYTES]) for o in range(CHUNK_BYTES, len(data), CHUNK_BYTES)
        ]
        response = await self._call("PutCassette", iter(chunks))
        info: control_pb2.CassetteInfo = response.cassette
        return info

    async def delete_cassette(self, name: str) -> None:
        """See :meth:`matgto.Client.delete_cassette`."""
        await self._call("DeleteCassette", control_pb2.DeleteCassetteRequest(name=_SyncClient._name(name)))

    async def watch_events(self, session: Optional[str] = None, cassette: Optional[str] = None) -> "EventStream":
        """See :meth:`matgto.Client.watch_events`: returns once the server has
        subscribed; ``async for event in stream``, ``stream.close()``."""
        request = control_pb2.WatchEventsRequest(session=session or "", cassette=cassette or "")
        await self._ready("WatchEvents")
        call = self._stub.WatchEvents(request, timeout=None, metadata=self._metadata)
        stream = EventStream(call, address=self.address)
        try:
            await call.initial_metadata()
            if call.done() and await call.code() is not grpc.StatusCode.OK:
                failed = _Status(await call.code(), await call.details())
                raise error_from_rpc(failed, method="WatchEvents", address=self.address)
        except BaseException:
            stream.close()
            raise
        return stream

    async def shutdown(self, grace: Optional[Union[float, datetime.timedelta]] = None) -> None:
        """See :meth:`matgto.Client.shutdown`."""
        request = control_pb2.ShutdownRequest()
        if grace is not None:
            request.grace.CopyFrom(_duration(grace))
        await self._call("Shutdown", request)

    async def ca_certificate(self) -> str:
        """See :meth:`matgto.Client.ca_certificate`."""
        response = await self._call("GetCACertificate", control_pb2.GetCACertificateRequest())
        return str(response.pem)

    # -- helpers for HTTP clients -------------------------------------------

    async def proxy_address(self) -> str:
        """``"host:port"`` of the shared HTTP proxy (cached)."""
        if self._proxy_address is None:
            await self.status()
        if not self._proxy_address:
            raise MatgtoError("the matgto server reported no proxy address", address=self.address)
        return self._proxy_address

    async def proxy_url(self) -> str:
        """``"http://" + await proxy_address()``."""
        return "http://" + await self.proxy_address()

    async def proxies(self) -> Dict[str, str]:
        """A ``proxies`` mapping for :mod:`requests`."""
        url = await self.proxy_url()
        return {"http": url, "https": url}

    async def ca_bundle(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
        """See :meth:`matgto.Client.ca_bundle` (a temporary file removed by :meth:`close` without ``path``)."""
        pem = await self.ca_certificate()
        if path is None:
            if self._ca_dir is None:
                self._ca_dir = tempfile.mkdtemp(prefix="matgto-ca-")
            path = os.path.join(self._ca_dir, "matgto-ca.pem")
        target = os.fspath(path)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(pem)
        os.replace(tmp, target)
        return target

    async def wait_until_ready(self, timeout: float = 10.0) -> control_pb2.GetStatusResponse:
        """Waits up to ``timeout`` seconds for the control API, then returns :meth:`status`."""
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout)
        except asyncio.TimeoutError:
            raise ServerUnavailableError(
                f"matgto server at {self.address} did not become ready within {timeout}s",
                code=grpc.StatusCode.UNAVAILABLE,
                address=self.address,
            ) from None
        return await self.status()

    # -- sessions -------------------------------------------------------------------

    def session(
        self, name: str, mode: Optional[ModeLike] = "auto", *, lease: Optional[LeaseLike] = DEFAULT_LEASE,
        owner: Optional[str] = None, **options: Any,
    ) -> "_Opening":  # fmt: skip
        """Opens a **new session** (as :meth:`matgto.Client.session`), renewed
        every lease/3 by an asyncio task. ``async with client.session(name) as s:``
        stops it on exit; ``s = await client.session(name)`` leaves that to you."""
        return _Opening(self, self.use_cassette(name, mode, new_session=True, lease=lease, owner=owner, **options))

    def recording(self, name: str, **options: Any) -> "_Opening":
        """``async with client.recording(name) as s:`` (options as :meth:`start_recording`)."""
        return _Opening(self, self.start_recording(name, **options))

    def replaying(self, name: str, **options: Any) -> "_Opening":
        """``async with client.replaying(name) as s:`` (options as :meth:`replay`)."""
        return _Opening(self, self.replay(name, **options))

    def cassette(self, name: str, mode: Optional[ModeLike] = "auto", **options: Any) -> "_Opening":
        """``async with client.cassette(name, mode) as s:`` (options as :meth:`use_cassette`)."""
        return _Opening(self, self.use_cassette(name, mode, **options))

    # -- lifetime ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Closes the channel (if the client created it) and removes the temporary CA bundle."""
        if self._closed:
            return
        self._closed = True
        if self._owns_channel:
            await self._channel.close()
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)
            self._ca_dir = None

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"matgto.aio.Client({self.address!r})"
