"""Run from a folder outside the repository by check-install.sh, with the
installed matgto (not the source tree) and every proxy variable pointing at a
dead proxy: the launcher, the sync and asyncio clients, and proxy_env work."""

import asyncio
import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google.protobuf
import grpc

import matgto
import matgto.aio
from matgto.testing import proxy_env, start_server

here = os.path.dirname(os.path.abspath(__file__))
assert "clients/python/src" not in matgto.__file__, f"imported the source tree: {matgto.__file__}"
for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "grpc_proxy"):
    os.environ[name] = "http://127.0.0.1:9"  # nothing listens there


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"hello " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


upstream = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=upstream.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{upstream.server_address[1]}/smoke"

with start_server() as server:  # $MATGTO_BIN
    with server.client() as client:
        assert client.status().api_version == matgto.API_VERSION
        with client.session("smoke/sync") as session, proxy_env(session):
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.read() == b"hello /smoke"
        assert session.summary is not None and session.summary.session.recorded == 1
        assert os.environ["HTTP_PROXY"] == "http://127.0.0.1:9", "proxy_env restored the variables"

    async def main() -> None:
        async with matgto.aio.Client(server.control) as aio_client:
            async with aio_client.session("smoke/sync") as replaying:
                assert replaying.mode is matgto.Mode.REPLAY
            names = [c.name for c in await aio_client.list_cassettes("smoke/")]
            assert names == ["smoke/sync"], names

    asyncio.run(main())

upstream.shutdown()
print(
    f"install smoke ok: matgto {matgto.__version__} from {os.path.dirname(matgto.__file__)}, "
    f"grpcio {grpc.__version__}, protobuf {google.protobuf.__version__}, python {sys.version.split()[0]}"
)
