"""Testcontainers module for matgto-serge: the record/replay proxy in a container.

::

    from matgto_testcontainers import MatgtoContainer

    with MatgtoContainer().with_cassette_dir("tests/cassettes") as matgto:
        client = matgto.client()                       # a connected matgto.Client
        with client.session("users/get-1") as s:       # records, then replays
            requests.get("http://127.0.0.1:8080/users/1", proxies=s.proxies())
        matgto.proxy_url                               # the shared proxy port's URL

The container runs with the **host network**: the proxy must reach the services under
test wherever they listen (often 127.0.0.1 on the host), and every session the client
opens gets a proxy listener of its own on an ephemeral port, which a port mapping
cannot follow. The server binds 127.0.0.1 on free ports picked on the host (proxy,
control, admin), and the container is ready when the admin port's ``/readyz`` answers
200; if the server exits first, ``start()`` raises with its log.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

__all__ = ["MatgtoContainer", "MatgtoReadyWaitStrategy", "DEFAULT_IMAGE", "IMAGE_ENV", "LABEL"]
__version__ = "0.1.0"

#: The image ``deploy/test-image.sh`` and ``make testcontainers-test`` build locally.
DEFAULT_IMAGE = "localhost/matgto:test"
#: Environment variable naming the image when none is passed.
IMAGE_ENV = "MATGTO_IMAGE"
#: Label put on every container this module starts (for cleaning up without Ryuk).
LABEL = "dev.matgto.testcontainers"

CASSETTES_IN_CONTAINER = "/cassettes"


def _free_ports(count: int, host: str) -> List[int]:
    """Ports free on the host now (the kernel picks them; closed before the server binds)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class MatgtoReadyWaitStrategy(WaitStrategy):
    """Waits until ``GET http://HOST:ADMIN/readyz`` answers 200, and fails at once (with
    the container's log) when the container stops before that."""

    def __init__(self, admin_port: int) -> None:
        super().__init__()
        self._admin_port = admin_port
        self._poll_interval = 0.1

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        url = f"http://{container.get_container_host_ip()}:{self._admin_port}/readyz"
        # Loopback only: never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + self._startup_timeout
        last = "no answer yet"
        while True:
            container.reload()
            if container.status in ("exited", "dead", "removing", "stopped"):
                out, err = container.get_logs()
                raise RuntimeError(
                    f"matgto container stopped ({container.status}) before {url} answered; "
                    f"its log:\n{(out + err).decode(errors='replace')}"
                )
            try:
                with opener.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                out, err = container.get_logs()
                raise TimeoutError(
                    f"matgto container not ready after {self._startup_timeout:.0f} s "
                    f"({url}: {last}); its log:\n{(out + err).decode(errors='replace')}"
                )
            time.sleep(self._poll_interval)


class MatgtoContainer(DockerContainer):
    """``matgto serve`` in a container, on the host network.

    ``image``: default ``$MATGTO_IMAGE``, else :data:`DEFAULT_IMAGE`. ``host``: the
    loopback address the server binds and the test reaches (default ``127.0.0.1``).
    ``proxy_port``/``control_port``/``admin_port``: default free ports picked at
    ``start()``. ``startup_timeout``: seconds to wait for ``/readyz``. Other keyword
    arguments go to :class:`testcontainers.core.container.DockerContainer`.
    """

    def __init__(
        self,
        image: Optional[str] = None,
        *,
        host: str = "127.0.0.1",
        proxy_port: Optional[int] = None,
        control_port: Optional[int] = None,
        admin_port: Optional[int] = None,
        startup_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE, **kwargs)
        self.host = host
        self.proxy_port = proxy_port
        self.control_port = control_port
        self.admin_port = admin_port
        self.startup_timeout = startup_timeout
        self.cassette_dir: Optional[Path] = None
        self._server_args: List[str] = []
        self._clients: list = []

    # -- configuration -------------------------------------------------------------------

    def with_cassette_dir(
        self, host_dir: Union[str, "os.PathLike[str]"], *, read_only: bool = False, as_host_user: bool = True
    ) -> "MatgtoContainer":
        """Mounts ``host_dir`` (created if missing) as the server's cassette directory, so
        recordings outlive the container and a later container replays them.

        ``as_host_user`` (default): the server runs as this process's uid:gid, so the
        cassettes it writes belong to you (the image's own user, 10001, could not write
        into a directory of yours); the interception CA then lives in the container's
        ``/tmp``. ``False`` keeps the image's user: ``host_dir`` must be writable by 10001.
        """
        path = Path(host_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        self.cassette_dir = path
        self.with_volume_mapping(str(path), CASSETTES_IN_CONTAINER, "ro" if read_only else "rw")
        if as_host_user and hasattr(os, "getuid"):
            self.with_kwargs(**{**self._kwargs, "user": f"{os.getuid()}:{os.getgid()}"})
            self.with_env("MATGTO_CA_DIR", "/tmp/matgto-ca")
            self.with_env("MATGTO_CACHE_DIR", "/tmp/matgto-cache")
        return self

    def with_server_args(self, *args: str) -> "MatgtoContainer":
        """Extra ``matgto serve`` flags, e.g. ``"--mode", "replay", "--cassette", "x"``
        (any ``MATGTO_*`` variable set with :meth:`with_env` works too)."""
        self._server_args.extend(args)
        return self

    # -- lifetime --------------------------------------------------------------------------

    def start(self) -> "MatgtoContainer":
        free = iter(_free_ports(3, self.host))
        self.proxy_port = self.proxy_port or next(free)
        self.control_port = self.control_port or next(free)
        self.admin_port = self.admin_port or next(free)
        # Ports and addresses through the server's MATGTO_* configuration; the command
        # replaces the image's default one (which binds 0.0.0.0: the whole host here).
        self.with_envs(
            MATGTO_PROXY_PORT=str(self.proxy_port),
            MATGTO_CONTROL_PORT=str(self.control_port),
            MATGTO_ADMIN_PORT=str(self.admin_port),
            MATGTO_BIND=self.host,
            MATGTO_CONTROL_BIND=self.host,
            MATGTO_ADMIN_BIND=self.host,
            MATGTO_CASSETTE_DIR=CASSETTES_IN_CONTAINER,
            # The image's HEALTHCHECK (`matgto status`) asks this address.
            MATGTO_SERVER=self.control_address,
        )
        self.with_command(["serve", *self._server_args])
        labels = {**(self._kwargs.get("labels") or {}), LABEL: "true"}
        self.with_kwargs(**{**self._kwargs, "network_mode": "host", "labels": labels})
        self.waiting_for(MatgtoReadyWaitStrategy(self.admin_port).with_startup_timeout(self.startup_timeout))
        super().start()
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        super().stop(force=force, delete_volume=delete_volume)

    # -- what a test uses ----------------------------------------------------------------

    def get_container_host_ip(self) -> str:
        return self.host  # host network: the server listens on the host's loopback

    def get_exposed_port(self, port: int) -> int:
        return port  # host network: no port mapping

    @property
    def control_address(self) -> str:
        """``HOST:PORT`` of the gRPC control API (what ``matgto.Client`` takes)."""
        return f"{self._url_host}:{self.control_port}"

    @property
    def proxy_url(self) -> str:
        """``http://HOST:PORT`` of the shared proxy port (the server's default session)."""
        return f"http://{self._url_host}:{self.proxy_port}"

    def proxies(self) -> dict:
        """``requests``-style proxies for the shared proxy port."""
        return {"http": self.proxy_url, "https": self.proxy_url}

    @property
    def admin_url(self) -> str:
        """``http://HOST:PORT`` of the admin port (``/metrics``, ``/healthz``, ``/readyz``)."""
        return f"http://{self._url_host}:{self.admin_port}"

    def client(self, **kwargs: Any) -> Any:
        """A :class:`matgto.Client` connected to this container's control API (closed
        when the container stops); ``kwargs`` go to its constructor."""
        import matgto  # the client package, a dependency of this one

        c = matgto.Client(self.control_address, **kwargs)
        self._clients.append(c)
        return c

    def server_ports(self) -> Tuple[int, int, int]:
        """(proxy, control, admin) ports (host network: the same on the host)."""
        return (int(self.proxy_port or 0), int(self.control_port or 0), int(self.admin_port or 0))

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host
