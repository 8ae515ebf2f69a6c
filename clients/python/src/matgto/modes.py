"""Enumerations mirroring ``matgto.v1`` proto enums, and their parsing.

The members have the proto numbers, and they are :class:`enum.IntEnum`, so they
compare equal to the plain ints found in generated messages::

    client.status().session.mode == Mode.REPLAY
"""

from __future__ import annotations

import enum
from typing import Optional, Union

__all__ = ["Mode", "ExhaustedPolicy", "ModeLike", "ExhaustedPolicyLike", "parse_mode", "parse_exhausted_policy"]


class Mode(enum.IntEnum):
    """How a cassette is used (``matgto.v1.Mode``)."""

    UNSPECIFIED = 0
    #: Replay when the cassette exists, otherwise record it.
    AUTO = 1
    #: Forward to the real upstream and record (overwriting the cassette).
    RECORD = 2
    #: Answer from the cassette only; the cassette must exist.
    REPLAY = 3
    #: Forward to the real upstream, record nothing.
    PASSTHROUGH = 4

    @property
    def proto_name(self) -> str:
        """The value's name in ``matgto.v1.Mode`` (``"MODE_UNSPECIFIED"``, ``"AUTO"``...)."""
        return "MODE_UNSPECIFIED" if self is Mode.UNSPECIFIED else self.name


class ExhaustedPolicy(enum.IntEnum):
    """What replay does once every recorded answer to a request was used
    (``matgto.v1.ExhaustedPolicy``)."""

    UNSPECIFIED = 0
    #: Keep answering with the last recorded response (the server's default).
    REPEAT_LAST = 1
    #: Answer with a no-match error (HTTP 599).
    ERROR = 2

    @property
    def proto_name(self) -> str:
        """The value's name in ``matgto.v1.ExhaustedPolicy``."""
        return {0: "EXHAUSTED_POLICY_UNSPECIFIED", 1: "REPEAT_LAST", 2: "EXHAUSTED_ERROR"}[int(self)]


#: A mode: a :class:`Mode`, its proto number, or its name (``"auto"``, ``"record"``,
#: ``"replay"``, ``"passthrough"``, case-insensitive).
ModeLike = Union[Mode, int, str]
#: An exhausted policy: an :class:`ExhaustedPolicy`, its proto number, or
#: ``"repeat_last"`` / ``"error"``.
ExhaustedPolicyLike = Union[ExhaustedPolicy, int, str]

_MODE_NAMES = {m.name.lower(): m for m in Mode if m is not Mode.UNSPECIFIED}
_POLICY_NAMES = {
    "repeat_last": ExhaustedPolicy.REPEAT_LAST,
    "repeat-last": ExhaustedPolicy.REPEAT_LAST,
    "error": ExhaustedPolicy.ERROR,
    "exhausted_error": ExhaustedPolicy.ERROR,
}


def parse_mode(value: ModeLike) -> Mode:
    """Converts ``value`` to a :class:`Mode`; raises :class:`ValueError` on anything else."""
    if isinstance(value, str):
        try:
            return _MODE_NAMES[value.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown matgto mode {value!r}; expected one of {', '.join(_MODE_NAMES)}"
            ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return Mode(value)
        except ValueError:
            raise ValueError(f"unknown matgto mode number {value}") from None
    raise ValueError(f"a matgto mode must be a Mode, an int or a str, not {type(value).__name__}")


def parse_exhausted_policy(value: Optional[ExhaustedPolicyLike]) -> Optional[ExhaustedPolicy]:
    """Converts ``value`` to an :class:`ExhaustedPolicy` (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return _POLICY_NAMES[value.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown on_exhausted policy {value!r}; expected 'repeat_last' or 'error'"
            ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ExhaustedPolicy(value)
        except ValueError:
            raise ValueError(f"unknown on_exhausted policy number {value}") from None
    raise ValueError(
        f"on_exhausted must be an ExhaustedPolicy, an int or a str, not {type(value).__name__}"
    )
