"""The replay latency option on the client side, without a matgto server: the
``latency``/``latency_scale`` values a cassette call takes, as ``Latency`` values
and as the ``cassette_pb2.Latency`` message they become. A real server's replay
latency is tested in test_faults_latency.py.
"""

from __future__ import annotations

import datetime
from typing import Optional

import pytest

from matgto import Latency, LatencyMode
from matgto.options import cassette_options, latency_proto
from matgto.v1 import cassette_pb2

from conftest import ms


# -- latency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, mode, scale, fixed, jitter",
    [
        ("fast", cassette_pb2.LATENCY_FAST, 0.0, None, None),
        ("as-recorded", cassette_pb2.LATENCY_AS_RECORDED, 0.0, None, None),
        ("AS_RECORDED", cassette_pb2.LATENCY_AS_RECORDED, 0.0, None, None),
        ("200ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(200), None),
        ("100ms±50ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(100), ms(50)),
        ("100ms +- 50ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(100), ms(50)),
        ("1s+/-250ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(1000), ms(250)),
        (ms(300), cassette_pb2.LATENCY_FIXED, 0.0, ms(300), None),
        (0.3, cassette_pb2.LATENCY_FIXED, 0.0, ms(300), None),
        (Latency.as_recorded(2), cassette_pb2.LATENCY_AS_RECORDED, 2.0, None, None),
        (Latency.fixed("20ms", "5ms"), cassette_pb2.LATENCY_FIXED, 0.0, ms(20), ms(5)),
    ],
)
def test_latency_option(value: object, mode: int, scale: float, fixed: Optional[datetime.timedelta],
                        jitter: Optional[datetime.timedelta]) -> None:
    options = cassette_options(latency=value)  # type: ignore[arg-type]
    assert options is not None and options.HasField("latency")
    latency = options.latency
    assert latency.mode == mode and latency.scale == scale
    assert latency.HasField("fixed") == (fixed is not None) and latency.HasField("jitter") == (jitter is not None)
    if fixed is not None:
        assert latency.fixed.ToTimedelta() == fixed
    if jitter is not None:
        assert latency.jitter.ToTimedelta() == jitter
    assert Latency.from_proto(latency) == Latency.parse(value)  # type: ignore[arg-type]


def test_latency_scale() -> None:
    assert latency_proto("as-recorded", 0.5) == cassette_pb2.Latency(mode=cassette_pb2.LATENCY_AS_RECORDED, scale=0.5)
    assert latency_proto(None, 2) == cassette_pb2.Latency(mode=cassette_pb2.LATENCY_AS_RECORDED, scale=2.0), (
        "latency_scale alone means as-recorded"
    )
    assert latency_proto(None, None) is None and cassette_options(latency=None) is None
    for latency in ("fast", "200ms", ms(5)):
        with pytest.raises(ValueError, match="as-recorded' only"):
            latency_proto(latency, 2)
    for scale in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            latency_proto("as-recorded", scale)


def test_a_latency_message_is_sent_as_is() -> None:
    raw = cassette_pb2.Latency(mode=cassette_pb2.LATENCY_FIXED)
    raw.fixed.FromMilliseconds(5)
    assert cassette_options(latency=raw).latency == raw  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value, error",
    [("slow", ValueError), ("100ms±", ValueError), ("100ms±50ms±1ms", ValueError), ("-1s", ValueError),
     (True, TypeError), ([1], TypeError)],
)
def test_bad_latencies(value: object, error: type) -> None:
    with pytest.raises(error):
        cassette_options(latency=value)  # type: ignore[arg-type]


def test_latency_values() -> None:
    assert str(Latency.parse("100ms±50ms")) == "100ms±50ms"
    assert str(Latency.as_recorded()) == "as-recorded" and str(Latency.as_recorded(2)) == "as-recorded x2"
    assert str(Latency()) == "fast" and Latency(LatencyMode.UNSPECIFIED) == Latency.fast()
    assert Latency("fixed", delay="1s") == Latency.fixed(1)
    with pytest.raises(ValueError, match="needs a delay"):
        Latency(LatencyMode.FIXED)
    with pytest.raises(ValueError, match="fixed latency only"):
        Latency(LatencyMode.FAST, delay="1s")
    with pytest.raises(ValueError, match="as-recorded"):
        Latency(LatencyMode.FIXED, delay="1s", scale=2)
