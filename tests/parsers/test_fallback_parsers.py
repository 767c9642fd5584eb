"""plain_number and generic_json: the fallbacks that sniffing picks for bare values and JSON objects."""

from __future__ import annotations

import json

import pytest

from .support import RECEIVED_AT, as_tuples, failure_of


def test_a_bare_number_is_claimed_by_plain_number_with_metric_and_device_from_the_topic(registry):
    assert registry.claim("home/kitchen/temperature", b" 21.5\n").name == "plain_number"
    readings = registry.run("plain_number", "home/kitchen/temperature", b" 21.5\n", RECEIVED_AT)
    assert as_tuples(readings) == [("kitchen", "temperature", 21.5, "")]
    assert readings[0].timestamp == RECEIVED_AT


@pytest.mark.parametrize(("payload", "value"), [(b"true", True), (b"false", False), (b"-3", -3.0), (b"1e3", 1000.0)])
def test_plain_number_accepts_json_numbers_and_booleans(registry, payload, value):
    assert registry.run("plain_number", "x/y", payload, RECEIVED_AT)[0].value == value


@pytest.mark.parametrize("payload", [b"abc", b"nan", b"inf", b"1e400", b"21,5"])
def test_plain_number_refuses_text_and_non_finite_numbers_at_value(registry, payload):
    failure = failure_of(registry, "plain_number", "x/y", payload)
    assert (failure.kind, failure.location.split(".")[0]) == ("validation", "value")


def test_a_one_level_topic_gives_an_empty_device(registry):
    assert as_tuples(registry.run("plain_number", "temperature", b"3", RECEIVED_AT)) == [("", "temperature", 3.0, "")]


def test_generic_json_flattens_numbers_and_booleans_into_dotted_paths(registry):
    payload = b'{"env":{"temp":21.5,"ok":true,"name":"kitchen"},"values":[1,2],"rssi":-60}'
    assert registry.claim("site/kitchen", payload).name == "generic_json"
    assert as_tuples(registry.run("generic_json", "site/kitchen", payload, RECEIVED_AT)) == [
        ("kitchen", "env.temp", 21.5, ""),
        ("kitchen", "env.ok", True, ""),
        ("kitchen", "values.0", 1.0, ""),
        ("kitchen", "values.1", 2.0, ""),
        ("kitchen", "rssi", -60.0, ""),
    ]


@pytest.mark.parametrize("stamp", [1714564800, 1714564800000, "2024-05-01T12:00:00+00:00"])
def test_a_top_level_time_field_becomes_the_timestamp_not_a_metric(registry, stamp):
    payload = json.dumps({"ts": stamp, "v": 1}).encode()
    [reading] = registry.run("generic_json", "a/b", payload, RECEIVED_AT)
    assert (reading.metric, reading.timestamp.isoformat()) == ("v", "2024-05-01T12:00:00+00:00")


def test_fields_deeper_than_the_flatten_cap_are_ignored(registry):
    deep: dict = {"v": 1}
    for _ in range(10):
        deep = {"d": deep}
    payload = json.dumps({"top": 2, "deep": deep}).encode()
    assert [r.metric for r in registry.run("generic_json", "a/b", payload, RECEIVED_AT)] == ["top"]


def test_more_fields_than_the_cap_fail_validation_rather_than_store_a_prefix(registry):
    payload = json.dumps({f"f{i}": i for i in range(300)}).encode()
    failure = failure_of(registry, "generic_json", "a/b", payload)
    assert (failure.kind, failure.errors[0]["type"], failure.location) == ("validation", "too_many_fields", "f256")


def test_generic_json_refuses_a_json_array_at_the_root(registry):
    failure = failure_of(registry, "generic_json", "a/b", b"[1, 2]")
    assert (failure.kind, failure.location) == ("validation", "")
