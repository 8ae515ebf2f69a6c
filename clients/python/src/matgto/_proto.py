"""Imports the generated modules, with a helpful error when they are missing."""

from __future__ import annotations

try:
    from .v1 import cassette_pb2, control_pb2, control_pb2_grpc
except ImportError as exc:  # pragma: no cover - only in a source tree never built
    raise ImportError(
        "matgto: the generated modules matgto.v1.control_pb2* are missing. They are "
        "generated from proto/matgto/v1/*.proto when the package is built: install it "
        "with `pip install clients/python` (or `pip install -e clients/python`). "
        f"Original error: {exc}"
    ) from exc

__all__ = ["cassette_pb2", "control_pb2", "control_pb2_grpc"]
