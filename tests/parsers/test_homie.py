"""Homie 4: $datatype/$unit are learned from their topics; values follow the convention's payload rules."""

from __future__ import annotations

import pytest

from mqtt_app.parsers import ParseFailure, homie

from .support import RECEIVED_AT, fixture


def publish_super_car(registry) -> list:
    """Feed the convention's super-car example through claim + run, as the ingest worker would."""
    readings = []
    for line in fixture("homie/super-car.txt").decode().splitlines():
        topic, payload = line.split(" → ")
        payload = payload.strip('"').encode()
        parser = registry.claim(topic, payload)
        if parser is not None and parser.name == "homie":
            readings += registry.run("homie", topic, payload, RECEIVED_AT)
    return readings


def test_the_super_car_temperature_is_a_float_in_degrees_celsius(registry):
    readings = publish_super_car(registry)
    assert [(r.device, r.metric, r.value, r.unit) for r in readings] == [
        ("super-car", "engine.temperature", 21.5, "°C")
    ]


@pytest.mark.parametrize(
    "topic",
    [
        "homie/super-car/$state",
        "homie/super-car/engine/$properties",
        "homie/super-car/engine/temperature/set",
        "homie/super-car/engine/temperature/$name",
    ],
)
def test_device_node_and_other_property_attributes_are_not_claimed_by_homie(registry, topic):
    parser = registry.claim(topic, b"ready")
    assert parser is None or parser.name != "homie"


def test_without_a_learned_datatype_the_value_is_inferred(registry):
    run = registry.run
    assert run("homie", "homie/lamp/light/power", b"true", RECEIVED_AT)[0].value is True
    assert run("homie", "homie/lamp/light/level", b"42", RECEIVED_AT)[0].value == 42.0
    assert run("homie", "homie/lamp/light/color", b"255,255,0", RECEIVED_AT)[0].value == "255,255,0"


@pytest.mark.parametrize(
    ("datatype", "payload"), [("float", b"abc"), ("integer", b"21.5"), ("boolean", b"TRUE"), ("float", b"1,5")]
)
def test_a_value_not_matching_its_datatype_fails_validation_at_value(registry, datatype, payload):
    homie.learn("homie/dev/node/prop/$datatype", datatype)
    with pytest.raises(ParseFailure) as caught:
        registry.run("homie", "homie/dev/node/prop", payload, RECEIVED_AT)
    assert (caught.value.kind, caught.value.location) == ("validation", "value")


def test_an_unknown_datatype_attribute_fails_validation(registry):
    with pytest.raises(ParseFailure) as caught:
        registry.run("homie", "homie/dev/node/prop/$datatype", b"number", RECEIVED_AT)
    assert (caught.value.kind, caught.value.location) == ("validation", "value")
