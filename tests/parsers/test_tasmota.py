"""Tasmota: documented SENSOR and STATE messages give unit-bearing readings; broken ones fail in place."""

from __future__ import annotations

import pytest

from .support import RECEIVED_AT, as_tuples, failure_of, fixture


def test_sensor_values_are_named_by_path_with_the_reported_temperature_unit(registry):
    assert registry.claim("tele/outside/SENSOR", b"{}").name == "tasmota"
    readings = registry.run("tasmota", "tele/outside/SENSOR", fixture("tasmota/sensor-am2301.json"), RECEIVED_AT)
    assert as_tuples(readings) == [
        ("outside", "AM2301.Temperature", 4.7, "°C"),
        ("outside", "AM2301.Humidity", 93.7, "%"),
    ]
    assert readings[0].timestamp == RECEIVED_AT  # Time has no offset: the device's zone is unknown


def test_energy_readings_carry_electrical_units_and_skip_text(registry):
    readings = registry.run("tasmota", "tele/plug/SENSOR", fixture("tasmota/sensor-energy.json"), RECEIVED_AT)
    by_metric = {r.metric: (r.value, r.unit) for r in readings}
    assert by_metric["ENERGY.Total"] == (14.834, "kWh")
    assert by_metric["ENERGY.Voltage"] == (230, "V")
    assert by_metric["ENERGY.Power"] == (0, "W")
    assert "ENERGY.TotalStartTime" not in by_metric


def test_state_turns_power_into_a_boolean_and_keeps_wifi_signal(registry):
    readings = registry.run("tasmota", "tele/plug/STATE", fixture("tasmota/state.json"), RECEIVED_AT)
    by_metric = {r.metric: (r.value, r.unit) for r in readings}
    assert by_metric["POWER"] == (True, "")
    assert by_metric["Wifi.Signal"] == (-69, "dBm")
    assert by_metric["UptimeSec"] == (66612, "s")
    assert "Wifi.SSId" not in by_metric and "Uptime" not in by_metric


def test_a_time_with_an_offset_becomes_the_timestamp(registry):
    payload = b'{"Time":"2024-02-24T22:20:38+01:00","DS18B20":{"Temperature":21.0},"TempUnit":"F"}'
    [reading] = registry.run("tasmota", "tele/pool/SENSOR", payload, RECEIVED_AT)
    assert (reading.unit, reading.timestamp.isoformat()) == ("°F", "2024-02-24T22:20:38+01:00")


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        (b'{"Time":"yesterday","AM2301":{"Temperature":4.7}}', "Time"),
        (
            b'{"Time":"2020-03-11T17:49:33","ENERGY":{"Power":"lots"}}',
            "ENERGY.Power.float",
        ),  # Pydantic names the union member
        (b'["not", "an", "object"]', ""),
    ],
)
def test_broken_messages_fail_validation_at_the_faulty_field(registry, payload, location):
    failure = failure_of(registry, "tasmota", "tele/plug/SENSOR", payload)
    assert (failure.kind, failure.location) == ("validation", location)
