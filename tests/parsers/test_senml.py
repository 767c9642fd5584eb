"""SenML (RFC 8428): the RFC's own examples resolve as the RFC says; broken packs fail at the right place."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from .support import RECEIVED_AT, as_tuples, failure_of, fixture

TOPIC = "site/senml"


def run(registry, payload: bytes):
    return registry.run("senml", TOPIC, payload, RECEIVED_AT)


def test_single_datapoint_without_base_name_uses_the_topic_as_device_and_receive_time(registry):
    readings = run(registry, fixture("senml/rfc8428-single-datapoint.json"))
    assert as_tuples(readings) == [("senml", "urn:dev:ow:10e2073a01080063", 23.1, "Cel")]
    assert readings[0].timestamp == RECEIVED_AT


def test_base_name_is_the_device_and_units_stay_per_record(registry):
    readings = run(registry, fixture("senml/rfc8428-multiple-datapoints.json"))
    assert as_tuples(readings) == [
        ("urn:dev:ow:10e2073a01080063", "voltage", 120.1, "V"),
        ("urn:dev:ow:10e2073a01080063", "current", 1.2, "A"),
    ]


def test_base_time_and_relative_times_fold_into_absolute_times_and_base_unit_applies(registry):
    readings = run(registry, fixture("senml/rfc8428-multiple-datapoints-with-time.json"))
    base = datetime.fromtimestamp(1.276020076001e09, tz=UTC)
    assert [r.timestamp for r in readings] == [base] + [base - timedelta(seconds=s) for s in (5, 4, 3, 2, 1, 0)]
    assert [r.unit for r in readings] == ["V"] + ["A"] * 6
    assert [r.value for r in readings[1:]] == [1.2, 1.3, 1.4, 1.5, 1.6, 1.7]


def test_records_without_a_name_take_the_unit_as_metric(registry):
    readings = run(registry, fixture("senml/rfc8428-multiple-measurements.json"))
    assert len(readings) == 13
    assert {r.metric for r in readings} == {"%RH", "lon", "lat", "%EL"}
    assert readings[-1].timestamp == datetime.fromtimestamp(1.320067464e09 + 180, tz=UTC)


def test_string_boolean_and_data_values_are_kept_as_they_are(registry):
    readings = run(registry, fixture("senml/rfc8428-multiple-data-types.json"))
    assert [(r.metric, r.value) for r in readings] == [
        ("temp", 23.1),
        ("label", "Machine Room"),
        ("open", False),
        ("nfc-reader", "aGkgCg"),
    ]


def test_a_new_base_name_changes_the_device_while_the_base_time_carries_on(registry):
    readings = run(registry, fixture("senml/rfc8428-collection-of-resources.json"))
    assert [(r.device, r.metric) for r in readings] == [
        ("2001:db8::2", "temperature"),
        ("2001:db8::2", "humidity"),
        ("2001:db8::1", "temperature"),
        ("2001:db8::1", "humidity"),
    ]
    assert {r.timestamp for r in readings} == {datetime.fromtimestamp(1.320078429e09, tz=UTC)}


def test_a_record_of_base_fields_only_gives_no_reading(registry):
    readings = run(registry, fixture("senml/rfc8428-setting-an-actuator.json"))
    assert [(r.metric, r.value, r.unit) for r in readings] == [("temp", 23.1, "Cel"), ("heat", 1, "/"), ("fan", 0, "/")]


def test_small_times_are_relative_to_the_receive_time_and_base_value_and_sum_fold(registry):
    pack = [{"bn": "dev1/", "bv": 100, "n": "level", "v": 5, "t": -30}, {"n": "meter", "bs": 10, "s": 2.5}]
    readings = run(registry, json.dumps(pack).encode())
    assert (readings[0].value, readings[0].timestamp) == (105, RECEIVED_AT - timedelta(seconds=30))
    assert (readings[1].metric, readings[1].value) == ("meter.sum", 12.5)


@pytest.mark.parametrize(
    ("pack", "location", "error_type"),
    [
        ([{"n": "a", "v": "hot"}], "0.v", "float_parsing"),
        ([{"n": "a", "v": 1}, {"n": "b", "v": 1, "vs": "x"}], "1", "value_error"),
        ([{"n": "a", "v": 1}, {"n": "b", "t": "soon", "v": 1}], "1.t", "float_parsing"),
        ([{"n": "a", "v": 1, "x_": 3}], "0", "value_error"),
        ([{"n": "a b", "v": 1}], "0.n", "senml_name"),
        ([{"n": "a", "u": "V"}], "0", "missing"),
        ([{"n": "a", "bt": 1e300, "v": 1}], "0.t", "senml_time"),
        ({"n": "a", "v": 1}, "", "list_type"),
    ],
)
def test_broken_packs_fail_validation_at_the_faulty_field(registry, pack, location, error_type):
    failure = failure_of(registry, "senml", TOPIC, json.dumps(pack).encode())
    assert (failure.kind, failure.location, failure.errors[0]["type"]) == ("validation", location, error_type)
    assert failure.parser == "senml"
