"""Shelly Gen2: documented NotifyStatus/NotifyFullStatus frames give component readings; others none."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from .support import RECEIVED_AT, as_tuples, failure_of, fixture

TOPIC = "shellypro4pm-f008d1d8b8b8/events/rpc"


def test_notify_status_gives_the_changed_fields_at_the_device_time(registry):
    assert registry.claim(TOPIC, b"{}").name == "shelly"
    readings = registry.run("shelly", TOPIC, fixture("shelly/notifystatus-example-1-switch.json"), RECEIVED_AT)
    assert as_tuples(readings) == [("shellypro4pm-f008d1d8b8b8", "switch:0.output", True, "")]
    assert readings[0].timestamp == datetime.fromtimestamp(1631186545.04, tz=UTC)


def test_cloud_disconnection_is_a_boolean_reading(registry):
    readings = registry.run("shelly", TOPIC, fixture("shelly/notifystatus-example-2-cloud.json"), RECEIVED_AT)
    assert as_tuples(readings) == [("shellypro4pm-f008d1d8b8b8", "cloud.connected", False, "")]


def test_full_status_flattens_every_component_with_units_and_skips_lists_and_text(registry):
    topic = "shellyplus1pm-441793d69718/events/rpc"
    readings = registry.run("shelly", topic, fixture("shelly/notifyfullstatus-switch.json"), RECEIVED_AT)
    by_metric = {r.metric: (r.value, r.unit) for r in readings}
    assert by_metric["switch:0.voltage"] == (237.571, "V")
    assert by_metric["switch:0.apower"] == (0, "W")
    assert by_metric["switch:0.aenergy.total"] == (14.093, "Wh")
    assert by_metric["switch:0.temperature.tC"] == (49.5, "°C")
    assert by_metric["wifi.rssi"] == (-58, "dBm")
    assert not any(m.endswith((".id", ".source", "by_minute.0", ".sta_ip")) for m in by_metric)


def test_other_notifications_are_valid_and_carry_no_readings(registry):
    event = {
        "src": "shellyplus1-a8032abe54dc",
        "method": "NotifyEvent",
        "params": {"ts": 1631266595.43, "events": [{"component": "input:0", "event": "single_push"}]},
    }
    assert registry.run("shelly", TOPIC, json.dumps(event).encode(), RECEIVED_AT) == []


@pytest.mark.parametrize(
    ("frame", "location"),
    [
        ({"src": "s1", "method": "NotifyStatus", "params": {"ts": "yesterday"}}, "params.ts"),
        ({"src": "s1", "method": "NotifyStatus", "params": {"ts": 1, "switch:0": 5}}, "params.switch:0"),
        ({"method": "NotifyStatus", "params": {}}, "src"),
        (b'{"src":"s1","method":"NotifyStatus","params":{"switch:0":{"apower":1e999}}}', "switch:0.apower"),
    ],
)
def test_broken_frames_fail_validation_at_the_faulty_field(registry, frame, location):
    payload = frame if isinstance(frame, bytes) else json.dumps(frame).encode()
    failure = failure_of(registry, "shelly", TOPIC, payload)
    assert (failure.kind, failure.location) == ("validation", location)
