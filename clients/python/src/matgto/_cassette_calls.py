"""The cassette management calls of :class:`~matgto.Client`: list, download,
upload (in chunks) and delete stored cassettes."""

from __future__ import annotations

from typing import Iterator, List, Optional, Union

import grpc

from ._proto import cassette_pb2, control_pb2
from ._rpc import _Rpc
from .errors import MatgtoError, error_from_rpc

#: Size of the chunks :meth:`Client.put_cassette` uploads (1 MiB).
CHUNK_BYTES = 1024 * 1024


class _CassetteCalls(_Rpc):
    """A base class of :class:`~matgto.Client`."""

    def list_cassettes(self, prefix: str = "") -> List[control_pb2.CassetteInfo]:
        """The cassettes whose names start with ``prefix`` (``CassetteInfo``:
        ``name``, ``size_bytes``, ``interactions``, ``updated_at``, ``format``)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        response: control_pb2.ListCassettesResponse = self._call(
            "ListCassettes", control_pb2.ListCassettesRequest(prefix=prefix)
        )
        return list(response.cassettes)

    def get_cassette_bytes(self, name: str) -> bytes:
        """Cassette ``name`` as serialized ``matgto.v1.Cassette`` bytes (the
        streamed chunks joined). :class:`~matgto.errors.CassetteNotFoundError`
        if it does not exist, :class:`~matgto.errors.CorruptCassetteError` if
        its file is corrupt."""
        request = control_pb2.GetCassetteRequest(name=self._name(name))
        self._ready("GetCassette")
        try:
            stream = self._stub.GetCassette(request, timeout=self.timeout)
            return b"".join(chunk.data for chunk in stream)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method="GetCassette", address=self.address) from None

    def get_cassette(self, name: str) -> cassette_pb2.Cassette:
        """Cassette ``name`` as the generated ``matgto.v1.Cassette`` message
        (interactions, options, timestamps). Errors as :meth:`get_cassette_bytes`."""
        data = self.get_cassette_bytes(name)
        cassette = cassette_pb2.Cassette()
        try:
            cassette.ParseFromString(data)
        except Exception as exc:  # google.protobuf.message.DecodeError
            raise MatgtoError(
                f"GetCassette returned bytes that are not a matgto.v1.Cassette: {exc}",
                method="GetCassette",
                address=self.address,
            ) from exc
        return cassette

    def put_cassette(
        self, cassette: Union[cassette_pb2.Cassette, bytes, bytearray, memoryview], name: Optional[str] = None
    ) -> control_pb2.CassetteInfo:
        """Stores a cassette (replacing one of the same name atomically) and
        returns its ``CassetteInfo``.

        ``cassette`` is a ``matgto.v1.Cassette`` message or its serialized
        bytes; it must be complete (``schema_version`` 1, ``complete`` true)
        or the server raises :class:`~matgto.errors.InvalidArgumentError`.
        ``name`` defaults to the cassette's own ``name``; the server stores it
        under ``name`` whatever the message says. The bytes go up in 1 MiB
        chunks. Replacing the cassette in use raises
        :class:`~matgto.errors.FailedPreconditionError`.
        """
        if isinstance(cassette, cassette_pb2.Cassette):
            data = cassette.SerializeToString()
            own_name = cassette.name
        elif isinstance(cassette, (bytes, bytearray, memoryview)):
            data = bytes(cassette)
            own_name = ""
            if name is None:
                parsed = cassette_pb2.Cassette()
                try:
                    parsed.ParseFromString(data)
                except Exception as exc:
                    raise ValueError(f"put_cassette: the bytes are not a matgto.v1.Cassette: {exc}") from None
                own_name = parsed.name
        else:
            raise TypeError(
                f"put_cassette takes a matgto.v1.Cassette or bytes, not {type(cassette).__name__}"
            )
        target = own_name if name is None else self._name(name)
        if not target:
            raise ValueError("put_cassette: the cassette has no name; pass name=")

        def chunks() -> Iterator[control_pb2.CassetteChunk]:
            yield control_pb2.CassetteChunk(name=target, data=data[:CHUNK_BYTES])
            for offset in range(CHUNK_BYTES, len(data), CHUNK_BYTES):
                yield control_pb2.CassetteChunk(data=data[offset : offset + CHUNK_BYTES])

        response: control_pb2.PutCassetteResponse = self._call("PutCassette", chunks())
        return response.cassette

    def delete_cassette(self, name: str) -> None:
        """Deletes cassette ``name``. :class:`~matgto.errors.CassetteNotFoundError`
        when it does not exist, :class:`~matgto.errors.FailedPreconditionError`
        while it is in use."""
        self._call("DeleteCassette", control_pb2.DeleteCassetteRequest(name=self._name(name)))
