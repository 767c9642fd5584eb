"""Zigbee2MQTT: the documented device messages parse; bridge and command topics are not claimed."""

from __future__ import annotations

import pytest

from .support import RECEIVED_AT, as_tuples, failure_of, fixture


def run(registry, topic: str, payload: bytes):
    return registry.run("zigbee2mqtt", topic, payload, RECEIVED_AT)


def test_temperature_and_humidity_sensor_gives_two_readings_with_units(registry):
    readings = run(registry, "zigbee2mqtt/0x00158d0001", fixture("zigbee2mqtt/wsdcgq01lm-temperature-humidity.json"))
    assert as_tuples(readings) == [
        ("0x00158d0001", "temperature", 27.34, "°C"),
        ("0x00158d0001", "humidity", 44.72, "%"),
    ]


def test_friendly_names_with_slashes_are_the_device(registry):
    readings = run(registry, "zigbee2mqtt/kitchen/floor_light", fixture("zigbee2mqtt/led1545g12-bulb.json"))
    assert as_tuples(readings) == [
        ("kitchen/floor_light", "state", True, ""),
        ("kitchen/floor_light", "brightness", 215, ""),
        ("kitchen/floor_light", "color_temp", 325, "mired"),
    ]


def test_switch_actions_are_text_and_occupancy_a_boolean(registry):
    assert as_tuples(run(registry, "zigbee2mqtt/switch", fixture("zigbee2mqtt/wxkg01lm-wireless-switch.json"))) == [
        ("switch", "action", "single", "")
    ]
    assert run(registry, "zigbee2mqtt/pir", fixture("zigbee2mqtt/rtcgq01lm-occupancy.json"))[0].value is True


def test_last_seen_becomes_the_timestamp(registry):
    [reading] = run(registry, "zigbee2mqtt/plug", b'{"linkquality":102,"last_seen":"2019-12-14T15:38:56.796Z"}')
    assert reading.timestamp.isoformat() == "2019-12-14T15:38:56.796000+00:00"


@pytest.mark.parametrize(
    "topic",
    [
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/bridge/devices",
        "zigbee2mqtt/lamp/set",
        "zigbee2mqtt/lamp/get",
        "zigbee2mqtt/lamp/availability",
        "zigbee2mqtt",
    ],
)
def test_bridge_command_and_availability_topics_are_not_claimed_by_zigbee2mqtt(registry, topic):
    parser = registry.claim(topic, b'{"state":"ON"}')
    assert parser is None or parser.name != "zigbee2mqtt"


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        (b'{"temperature":"hot"}', "temperature"),
        (b'{"linkquality":900}', "linkquality"),
        (b'{"battery":-5}', "battery"),
    ],
)
def test_out_of_type_or_range_values_fail_at_their_field(registry, payload, location):
    failure = failure_of(registry, "zigbee2mqtt", "zigbee2mqtt/sensor", payload)
    assert (failure.kind, failure.location) == ("validation", location)
