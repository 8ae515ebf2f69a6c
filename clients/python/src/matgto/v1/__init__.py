"""Messages and stubs generated from ``proto/matgto/v1/*.proto``.

The modules of this package (``control_pb2``, ``control_pb2_grpc``,
``cassette_pb2`` and their ``.pyi`` stubs) are written by ``grpc_tools.protoc``
when the distribution is built (see ``setup.py``); they are never edited by
hand nor checked in. They live at ``matgto.v1`` because protoc names Python
modules after the proto package path, so the imports it generates
(``from matgto.v1 import cassette_pb2``) resolve inside this distribution.
"""
