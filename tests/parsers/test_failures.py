"""Bad input gives a ParseFailure of the right kind and location, never another exception."""

from __future__ import annotations

import pytest
from django.test import override_settings

from .support import RECEIVED_AT, failure_of


@override_settings(MQTT_MAX_PAYLOAD_BYTES=16)
def test_a_payload_over_the_limit_is_too_large(registry):
    failure = failure_of(registry, "generic_json", "a/b", b'{"value": 123456789}')
    assert (failure.kind, failure.parser) == ("too_large", "generic_json")
    assert "20 bytes" in failure.message


@pytest.mark.parametrize("payload", [b"", b"  \r\n"])
def test_an_empty_payload_is_empty(registry, payload):
    assert failure_of(registry, "plain_number", "a/b", payload).kind == "empty"


def test_non_utf8_is_a_decode_failure_with_the_byte_position(registry):
    failure = failure_of(registry, "generic_json", "a/b", b'{"a": "\xff"}')
    assert (failure.kind, failure.location) == ("decode", "byte 7")


@pytest.mark.parametrize(
    ("payload", "location"),
    [(b'{"a": 1', "line 1 column 8"), (b'{"a": NaN}', ""), (b'{"a": Infinity}', ""), (b"1" * 5000, "")],
)
def test_invalid_json_is_a_json_failure(registry, payload, location):
    failure = failure_of(registry, "generic_json", "a/b", payload)
    assert (failure.kind, failure.location) == ("json", location)


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_absurdly_nested_json_is_a_json_failure_not_a_crash(registry, depth):
    failure = failure_of(registry, "generic_json", "a/b", b"[" * depth + b"]" * depth)
    assert failure.kind == "json"
    assert "deep" in failure.message


def test_a_number_json_turns_into_infinity_is_refused_at_its_metric(registry):
    failure = failure_of(registry, "generic_json", "a/b", b'{"big": 1e400}')
    assert (failure.kind, failure.location, failure.errors[0]["type"]) == ("validation", "big", "finite_number")


def test_validation_errors_list_every_location_with_message_and_type(registry):
    failure = failure_of(registry, "senml", "a/senml", b'[{"n": "a", "v": "x"}, {"n": "b", "t": "y", "v": 1}]')
    assert [error["loc"] for error in failure.errors] == ["0.v", "1.t"]
    assert all(set(error) == {"loc", "msg", "type"} for error in failure.errors)
    assert failure.location == "0.v"
    assert failure.message.startswith("2 validation errors")


def test_an_exception_inside_a_parser_is_a_parser_exception_with_its_cause(registry):
    with override_settings(MQTT_PARSERS=["tests.parsers.custom_parsers.CrashingParser"]):
        from mqtt_app.parsers import get_registry

        failure = failure_of(get_registry(), "crashing", "crash/1", b'{"kwh": 1}')
    assert (failure.kind, failure.parser) == ("parser_exception", "crashing")
    assert failure.message == "ZeroDivisionError: the parser's own bug"
    assert isinstance(failure.__cause__, ZeroDivisionError)


def test_a_parser_returning_something_else_than_readings_is_a_parser_exception(registry):
    with override_settings(MQTT_PARSERS=["tests.parsers.custom_parsers.WrongReturnParser"]):
        from mqtt_app.parsers import get_registry

        failure = failure_of(get_registry(), "wrong_return", "x", b'{"kwh": 1}')
    assert failure.kind == "parser_exception"


def test_a_reading_with_a_non_text_device_is_a_parser_exception_not_a_failed_database_write(registry):
    with override_settings(MQTT_PARSERS=["tests.parsers.custom_parsers.NonTextNameParser"]):
        from mqtt_app.parsers import get_registry

        failure = failure_of(get_registry(), "non_text_name", "x", b'{"kwh": 1}')
    assert failure.kind == "parser_exception" and "must be text" in failure.message


def test_a_failure_serialises_to_the_contract_fields(registry):
    failure = failure_of(registry, "plain_number", "a/b", b"abc")
    assert set(failure.as_dict()) == {"kind", "message", "parser", "errors", "location"}
    assert str(failure).startswith("validation at value")


def test_text_payloads_from_the_dry_run_api_are_accepted(registry):
    assert registry.run("plain_number", "a/b", "7", RECEIVED_AT)[0].value == 7.0
