"""Property-based: any bytes on any topic give readings or a ParseFailure, never another exception."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqtt_app.parsers import ParseFailure, Reading, get_registry, reset_registry

from .support import RECEIVED_AT

reset_registry()
NAMES = get_registry().names()
topics = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["tele/plug/SENSOR", "zigbee2mqtt/lamp", "shelly1/events/rpc", "homie/d/n/p", "a/senml", "x/y"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
payloads = st.one_of(st.binary(max_size=300), json_values.map(lambda value: json.dumps(value).encode()))
checks = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_safely(name: str, topic: str, payload: bytes) -> None:
    try:
        readings = get_registry().run(name, topic, payload, RECEIVED_AT)
    except ParseFailure as failure:
        assert failure.kind in ("decode", "empty", "json", "validation", "too_large", "parser_exception")
        assert failure.kind != "parser_exception", f"{name} crashed: {failure.message}"
        return
    for reading in readings:
        assert isinstance(reading, Reading)
        assert not isinstance(reading.value, float) or math.isfinite(reading.value)
        assert reading.timestamp is not None


@checks
@given(name=st.sampled_from(NAMES), topic=topics, payload=payloads)
def test_any_payload_gives_readings_or_a_parse_failure(name, topic, payload):
    run_safely(name, topic, payload)


@checks
@given(topic=topics, payload=payloads)
def test_claiming_never_raises_and_a_claimed_payload_runs_safely(topic, payload):
    parser = get_registry().claim(topic, payload)
    if parser is not None:
        run_safely(parser.name, topic, payload)
