"""Cassette names that the server accepts.

The server allows ``[A-Za-z0-9._-+=@,[]]`` and ``/`` (as a directory
separator), and rejects empty, absolute names and names containing ``..``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

__all__ = [
    "ALLOWED_NAME_RE",
    "sanitize_cassette_component",
    "sanitize_cassette_name",
    "cassette_name_from_parts",
    "cassette_name_for_nodeid",
    "truncate_utf8",
]

#: A full match means the server accepts the name (besides the ``..`` rule).
ALLOWED_NAME_RE = re.compile(r"[A-Za-z0-9._\-+=@,\[\]/]+")
_DISALLOWED_CHAR = re.compile(r"[^A-Za-z0-9._\-+=@,\[\]]")
#: Components longer than this are shortened and given a hash suffix, keeping
#: file names well below common 255-byte limits.
MAX_COMPONENT = 120


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


def cassette_name_from_parts(parts: Iterable[str]) -> str:
    """Joins sanitized components with ``/`` (``["test_api", "test_x[a b]"]`` ->
    ``"test_api/test_x[a_b]"``)."""
    return "/".join(sanitize_cassette_component(p) for p in parts)


def sanitize_cassette_name(name: str) -> str:
    """Sanitizes ``name`` while keeping its ``/`` separators (empty components
    and leading slashes are dropped)."""
    parts = [p for p in name.split("/") if p]
    return cassette_name_from_parts(parts or [""])


def cassette_name_for_nodeid(nodeid: str) -> str:
    """The default cassette name of a pytest test: its module path without
    ``.py``, then its class and test names, each component sanitized::

        a/test_x.py::test_t                -> a/test_x/test_t
        b/test_x.py::test_t                -> b/test_x/test_t
        tests/test_api.py::TestUsers::test_get[a b/c]
                                           -> tests/test_api/TestUsers/test_get[a_b_c]

    Node ids are relative to pytest's rootdir and identical in every xdist
    worker, so two tests never share a default name unless their ids differ
    only in characters the server refuses.
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
    return cassette_name_from_parts(parts or [""])


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")
