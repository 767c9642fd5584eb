"""Whatever bytes arrive, the binary parsers answer with readings or a ParseFailure, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt_app.parsers import ParseFailure, get_registry

from .payloads import NODE_METRICS, nbirth

RECEIVED_AT = datetime(2024, 5, 1, tzinfo=UTC)
BIRTH = nbirth(1, *NODE_METRICS)


def outcome(name: str, topic: str, data: bytes) -> str:
    try:
        get_registry().run(name, topic, data, RECEIVED_AT)
    except ParseFailure as failure:
        return failure.kind
    return "ok"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_readings_or_a_parse_failure_for_sparkplug(data):
    assert outcome("sparkplug", "spBv1.0/G/DDATA/n/d", data) in ("ok", "decode", "validation", "empty")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(BIRTH) - 1), st.binary(min_size=1, max_size=8))
def test_a_real_birth_with_bytes_overwritten_is_readings_or_a_parse_failure(at, noise):
    data = BIRTH[:at] + noise + BIRTH[at + len(noise) :]
    assert outcome("sparkplug", "spBv1.0/G/NBIRTH/n", data) in ("ok", "decode", "validation")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_cbor_looking_bytes_are_readings_or_a_parse_failure_for_senml(data):
    assert outcome("senml", "gw/senml", b"\x81" + data) in ("ok", "decode", "validation")
