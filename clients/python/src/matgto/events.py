"""The live event stream (``WatchEvents``): what :meth:`Client.watch_events`
and :meth:`CassetteSession.events` return."""

from __future__ import annotations

import threading
from typing import Any, Iterator, Optional

import grpc

from ._proto import control_pb2
from .errors import error_from_rpc

__all__ = ["EventStream"]


class EventStream(Iterator[control_pb2.Event]):
    """Follows the server's events, live: an iterator of the generated
    ``matgto.v1.Event`` messages (``time``, ``dropped``, and one of
    ``exchange`` / ``miss`` / ``session``; ``event.WhichOneof("kind")`` says
    which).

    The server has subscribed by the time :meth:`Client.watch_events` returns,
    so traffic driven afterwards is seen. Iteration blocks until the next
    event; it ends when :meth:`close` is called (from any thread) or when the
    server shuts down. A failed call raises a :class:`~matgto.errors.MatgtoError`
    subclass. ``event.dropped`` > 0 means this watcher read too slowly and
    lost that many events just before ``event``; :attr:`dropped` is the total.

    It is a context manager (``close()`` on exit)::

        with client.watch_events(session=s.id) as events:
            for event in events:
                if event.HasField("miss"):
                    print(event.miss.explanation)
    """

    def __init__(self, call: Any, *, address: Optional[str] = None) -> None:
        self._call = call
        self._address = address
        self._closed = threading.Event()
        #: Events lost so far (the sum of every ``event.dropped``).
        self.dropped = 0

    def _raise_if_failed(self) -> None:
        """Waits for the server's headers (sent once it has subscribed) and
        raises when the call already failed instead (no token...). A refusal
        can also come as empty headers followed by its status: the first
        ``next()`` raises then."""
        self._call.initial_metadata()
        if self._call.done():
            code = self._call.code()
            if code is not grpc.StatusCode.OK and not self._closed.is_set():
                raise error_from_rpc(self._call, method="WatchEvents", address=self._address)

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> control_pb2.Event:
        if self._closed.is_set():
            raise StopIteration
        try:
            event: control_pb2.Event = next(self._call)
        except StopIteration:
            raise
        except grpc.RpcError as exc:
            if self._closed.is_set():
                raise StopIteration from None
            raise error_from_rpc(exc, method="WatchEvents", address=self._address) from None
        self.dropped += event.dropped
        return event

    def close(self) -> None:
        """Stops watching (cancels the call); a blocked iteration ends.
        Idempotent, thread-safe."""
        if not self._closed.is_set():
            self._closed.set()
            self._call.cancel()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
