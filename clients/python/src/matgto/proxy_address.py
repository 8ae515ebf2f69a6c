"""The proxy address a test's HTTP client uses, from what the server reports.

A server listening on all interfaces reports ``0.0.0.0`` or ``::``; the client
replaces such a host by the one it reaches the control API on.
"""

from __future__ import annotations

from typing import Tuple

__all__ = ["usable_proxy_address", "usable_proxy_url"]

_UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::", "[::]")


def _split_host_port(address: str) -> Tuple[str, str]:
    """``"127.0.0.1:8888"`` -> ``("127.0.0.1", "8888")``; ``"[::1]:80"`` -> ``("::1", "80")``."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.lstrip(":")
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, port
    return address, ""


def _host_of_target(target: str, loopback: str = "127.0.0.1") -> str:
    """The host of a gRPC target such as ``"127.0.0.1:8889"`` or ``"dns:///h:1"``
    (``loopback`` for an unspecified one or a local socket)."""
    if target.startswith(("unix:", "unix-abstract:", "vsock:")):
        return loopback
    for prefix in ("dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix):]
            break
    target = target.split(",")[0].rsplit("/", 1)[-1]
    host, _ = _split_host_port(target)
    return host if host not in _UNSPECIFIED_HOSTS else loopback


def _join_host_port(host: str, port: str) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def usable_proxy_address(proxy_address: str, control_target: str) -> str:
    """The proxy address as reported by the server, except that an unspecified
    host (``0.0.0.0``, ``::``) is replaced by the host used to reach the control API,
    or by the loopback address of its own family (``127.0.0.1``, ``::1``) when that is
    unspecified too."""
    host, port = _split_host_port(proxy_address)
    if host in _UNSPECIFIED_HOSTS:
        host = _host_of_target(control_target, "::1" if ":" in host else "127.0.0.1")
    return _join_host_port(host, port)


def usable_proxy_url(proxy_url: str, control_target: str) -> str:
    """``SessionInfo.proxy_url`` (``"http://ID@host:port"``) with an unspecified
    host replaced as in :func:`usable_proxy_address`."""
    scheme, sep, rest = proxy_url.partition("://")
    if not sep:
        return proxy_url
    user, at, address = rest.rpartition("@")
    address, slash, path = address.partition("/")
    return f"{scheme}://{user}{at}{usable_proxy_address(address, control_target)}{slash}{path}"
