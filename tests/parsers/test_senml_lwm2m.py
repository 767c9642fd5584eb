"""SenML as LwM2M gateways send it: records named by object path, in JSON and in CBOR (RFC 8428 section 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import cbor2
import pytest

from mqtt_app.parsers.senml_cbor import LABELS

from .support import RECEIVED_AT, failure_of, fixture

TOPIC = "lwm2m/urn:imei:35000123/senml"
LABEL_OF = {name: label for label, name in LABELS.items()}


def run(registry, payload: bytes, parser: str = "senml"):
    return registry.run(parser, TOPIC, payload, RECEIVED_AT)


def as_cbor(pack: list[dict]) -> bytes:
    """The pack in SenML CBOR: every field under its RFC 8428 integer label."""
    return cbor2.dumps([{LABEL_OF[key]: value for key, value in record.items()} for record in pack])


def numeric(readings) -> list[tuple]:
    return [(r.device, r.metric, r.value, r.unit) for r in readings if r.value.__class__ is float]


def test_object_paths_are_the_metric_and_the_topic_names_the_device(registry):
    readings = run(registry, fixture("senml/lwm2m-device-object.json"))
    assert [(r.metric, r.value) for r in readings[:2]] == [
        ("/3/0/0", "Open Mobile Alliance"),
        ("/3/0/1", "Lightweight M2M Client"),
    ]
    assert {r.device for r in readings} == {"senml"}
    assert numeric(readings) == [
        ("senml", "/3/0/9", 100.0, ""),
        ("senml", "/3/0/13", 1367491215.0, ""),
        ("senml", "/3/0/11/0", 0.0, ""),
        ("senml", "/3/0/11/1", 5.0, ""),
    ]


def test_a_pack_of_several_objects_gives_one_reading_per_numeric_record(registry):
    readings = run(registry, fixture("senml/lwm2m-multiple-objects.json"))
    assert numeric(readings) == [
        ("senml", "/72/1/2", 22.4, "Cel"),
        ("senml", "/72/1/3", 18.1, "Cel"),
        ("senml", "/3303/0/5700", 21.5, ""),
    ]
    assert readings[0].timestamp == datetime.fromtimestamp(1700000000, UTC)


@pytest.mark.parametrize("name", ["lwm2m-device-object.json", "lwm2m-multiple-objects.json"])
def test_the_same_pack_in_cbor_gives_the_same_readings_as_in_json(registry, name):
    payload = fixture(f"senml/{name}")
    from_json = run(registry, payload)
    from_cbor = run(registry, as_cbor(json.loads(payload)))
    assert from_cbor == from_json


def test_a_cbor_pack_with_the_self_describe_tag_and_a_data_value_is_read(registry):
    payload = b"\xd9\xd9\xf7" + cbor2.dumps([{-2: "/5/0/", 0: "0", 8: b"\x01\x02\xff"}, {0: "3", 2: 7}])
    readings = run(registry, payload)
    assert [(r.metric, r.value) for r in readings] == [("/5/0/0", "AQL_"), ("/5/0/3", 7.0)]


def test_rfc_names_still_name_device_and_metric_as_before(registry):
    readings = run(registry, as_cbor([{"bn": "urn:dev:ow:10e2073a01080063:", "n": "voltage", "u": "V", "v": 120.1}]))
    assert numeric(readings) == [("urn:dev:ow:10e2073a01080063", "voltage", 120.1, "V")]


def test_the_strict_parser_refuses_object_paths_as_the_rfc_does(registry):
    failure = failure_of(registry, "senml_strict", TOPIC, fixture("senml/lwm2m-multiple-objects.json"))
    assert (failure.kind, failure.location, failure.errors[0]["type"]) == ("validation", "0.n", "senml_name")
    assert failure.parser == "senml_strict"
    assert "'/72/1/2' is not a valid SenML name" in failure.message


def test_the_lenient_rule_still_refuses_names_with_spaces_or_control_characters(registry):
    for name in ("a b", "a\tb", "a\x01"):
        failure = failure_of(registry, "senml", TOPIC, json.dumps([{"n": name, "v": 1}]).encode())
        assert failure.errors[0]["type"] == "senml_name"


def test_a_cbor_record_breaking_a_rule_fails_at_the_record_like_json(registry):
    failure = failure_of(registry, "senml", TOPIC, as_cbor([{"n": "a", "v": 1}, {"n": "b", "v": 1, "vs": "x"}]))
    assert (failure.kind, failure.location) == ("validation", "1")


def test_unknown_cbor_labels_are_ignored_and_must_understand_names_refused(registry):
    assert [r.metric for r in run(registry, cbor2.dumps([{0: "a", 2: 1, 99: "x", b"k": 1}]))] == ["a"]
    failure = failure_of(registry, "senml", TOPIC, cbor2.dumps([{0: "a", 2: 1, "x_": 3}]))
    assert "must-understand" in failure.message


HOSTILE_CBOR = {
    "truncated": as_cbor([{"bn": "/3/0/", "n": "0", "v": 1.5}])[:-4],
    "deeply nested": b"\x81" * 10_000 + b"\x01",
    "huge declared array": b"\x9b" + b"\xff" * 8,
    "huge declared byte string": b"\x81\xa1\x08\x5b" + b"\x7f" * 8,
    "break out of place": b"\x81\xff",
    "indefinite array never closed": b"\x9f\xa2\x00\x61a\x02\x01",
}


@pytest.mark.parametrize("payload", HOSTILE_CBOR.values(), ids=HOSTILE_CBOR.keys())
def test_hostile_cbor_is_one_clear_decode_error_at_one_location(registry, payload):
    failure = failure_of(registry, "senml", TOPIC, payload)
    assert (failure.kind, failure.location, failure.parser) == ("decode", "cbor", "senml")
    assert failure.message.startswith("not a SenML CBOR pack: ")


def test_cbor_values_of_the_wrong_type_fail_validation_not_the_parser(registry):
    for record in ({0: "a", 2: "hot"}, {0: "a", 2: 10**400}, {0: 5, 2: 1}, {0: "a", 2: cbor2.CBORTag(1, 5)}):
        failure = failure_of(registry, "senml", TOPIC, cbor2.dumps([record]))
        assert failure.kind == "validation"
