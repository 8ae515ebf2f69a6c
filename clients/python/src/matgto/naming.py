"""Cassette names that the server accepts.

The server allows ``[A-Za-z0-9._-+=@,[]]`` and ``/`` (as a directory
separator), and rejects empty, absolute names and names containing ``..``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable, Optional

__all__ = [
    "ALLOWED_NAME_RE",
    "sanitize_cassette_component",
    "sanitize_cassette_name",
    "cassette_name_from_parts",
    "cassette_name_for_nodeid",
    "truncate_utf8",
    "MAX_NAME_BYTES",
]

#: A full match means the server accepts the name (besides the ``..`` rule).
ALLOWED_NAME_RE = re.compile(r"[A-Za-z0-9._\-+=@,\[\]/]+")
_DISALLOWED_CHAR = re.compile(r"[^A-Za-z0-9._\-+=@,\[\]]")
#: Components longer than this are shortened and given a hash suffix, keeping
#: file names well below common 255-byte limits.
MAX_COMPONENT = 120
#: The longest cassette name the server accepts (bytes).
MAX_NAME_BYTES = 200


def sanitize_cassette_component(text: str) -> str:
    """One path component: every disallowed character (``/`` included) becomes
    ``_``, ``..`` is broken up, and over-long text is shortened with a hash."""
    cleaned = _DISALLOWED_CHAR.sub("_", text)
    while ".." in cleaned:
        cleaned = cleaned.replace("..", "._")
    if cleaned in ("", "."):
        cleaned = "_"
    if len(cleaned) > MAX_COMPONENT:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        cleaned = cleaned[: MAX_COMPONENT - 13] + "-" + digest
    return cleaned


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _lossy(part: str) -> bool:
    """Whether sanitizing ``part`` loses more than its spaces (which become
    ``_`` without a hash suffix, as Go's ``t.Name()`` does); over-long
    components carry a hash of their own."""
    spaced = part.replace(" ", "_")
    return part in ("", ".") or ".." in part or _DISALLOWED_CHAR.search(spaced) is not None


def cassette_name_from_parts(parts: Iterable[str], source: Optional[str] = None, changed: bool = False) -> str:
    """Joins sanitized components with ``/`` (``["test_api", "test_x[a b]"]`` ->
    ``"test_api/test_x[a_b],h…"``).

    When sanitizing replaced more than spaces (or ``changed``), ``",h"`` and 8 hex
    digits of the FNV-1a hash of ``source`` (default: the ``/``-joined parts)
    are appended, as the Go and Rust clients do, so that names differing only
    in refused characters (``a:b``, ``a;b``) stay distinct; the name is cut to
    ``MAX_NAME_BYTES`` with the suffix."""
    parts = list(parts)
    cleaned = [sanitize_cassette_component(p) for p in parts]
    name = "/".join(cleaned)
    if not changed and not any(_lossy(p) for p in parts) and len(name) <= MAX_NAME_BYTES:
        return name
    original = "/".join(parts) if source is None else source
    suffix = ",h%08x" % _fnv32a(original.encode("utf-8", "surrogatepass"))
    # Sanitized names are ASCII: characters are bytes.
    return name[: MAX_NAME_BYTES - len(suffix)].rstrip("/") + suffix


def sanitize_cassette_name(name: str) -> str:
    """Sanitizes ``name`` while keeping its ``/`` separators (empty components
    and leading slashes are dropped); a name the server accepts is returned
    unchanged, any other gets a hash suffix (see
    :func:`cassette_name_from_parts`)."""
    parts = [p for p in name.split("/") if p]
    return cassette_name_from_parts(parts or [""], source=name, changed="/".join(parts) != name)


def cassette_name_for_nodeid(nodeid: str) -> str:
    """The default cassette name of a pytest test: its module path without
    ``.py``, then its class and test names, each component sanitized::

        a/test_x.py::test_t                -> a/test_x/test_t
        b/test_x.py::test_t                -> b/test_x/test_t
        tests/test_api.py::TestUsers::test_get[a b/c]
                                           -> tests/test_api/TestUsers/test_get[a_b_c],h0fe0f637

    Node ids are relative to pytest's rootdir and identical in every xdist
    worker; an id that loses more than spaces to sanitizing gets the hash of
    the whole node id (``,h…``), so two tests never share a default name.
    """
    file_part, _, rest = nodeid.partition("::")
    parts = [p for p in file_part.split("/") if p]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][: -len(".py")]
    if rest:
        # "::" separates class and test names; a parameter id ("[...]", at
        # the end) may contain anything, "::" and "/" included.
        bracket = rest.find("[")
        head, tail = (rest, "") if bracket < 0 else (rest[:bracket], rest[bracket:])
        names = head.split("::")
        names[-1] += tail
        parts += names
    return cassette_name_from_parts(parts or [""], source=nodeid)


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")
