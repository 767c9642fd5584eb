"""The registry: sources, unique names, clear configuration errors, claiming precedence, schemas."""

from __future__ import annotations

import textwrap

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from mqtt_app.models import ParseErrorKind
from mqtt_app.parsers import UnknownParser, base, check_registry, get_registry, reset_registry

from .support import RECEIVED_AT

BUILTINS = [
    "senml",
    "senml_strict",
    "tasmota",
    "zigbee2mqtt",
    "shelly",
    "homie",
    "sparkplug",
    "generic_json",
    "plain_number",
]
CUSTOM = "tests.parsers.custom_parsers"


def test_the_built_in_parsers_are_registered_once_and_built_lazily_once(registry):
    assert registry.names() == BUILTINS
    assert get_registry() is registry


def test_failure_kinds_are_the_parse_error_kinds_of_the_model():
    assert set(base.KINDS) == set(ParseErrorKind.values)


def test_parsers_listed_in_settings_are_added(registry):
    with override_settings(MQTT_PARSERS=[f"{CUSTOM}.MeterParser"]):
        assert get_registry().names() == [*BUILTINS, "acme_meter"]
        assert "settings.MQTT_PARSERS[0]" in get_registry().source("acme_meter")


def test_a_duplicate_name_fails_at_start_naming_both_sources(registry):
    with override_settings(MQTT_PARSERS=[f"{CUSTOM}.ImpostorParser"]):
        with pytest.raises(ImproperlyConfigured) as caught:
            check_registry()
    message = str(caught.value)
    assert "'tasmota'" in message and "built-in mqtt_app.parsers.tasmota.TasmotaParser" in message
    assert f"settings.MQTT_PARSERS[0] '{CUSTOM}.ImpostorParser'" in message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests.parsers.nowhere.Parser", "cannot be imported"),
        (f"{CUSTOM}.Missing", "cannot be imported"),
        (f"{CUSTOM}.NotAParser", "is not a subclass of mqtt_app.parsers.Parser"),
        (f"{CUSTOM}.BadFilterParser", "'#' must be a whole level and the last one"),
    ],
)
def test_a_bad_dotted_path_or_class_fails_with_a_clear_error(registry, path, expected):
    with override_settings(MQTT_PARSERS=[path]):
        with pytest.raises(ImproperlyConfigured, match=expected) as caught:
            check_registry()
    assert repr(path) in str(caught.value)


def test_entry_points_of_installed_distributions_are_loaded(registry, tmp_path, monkeypatch):
    dist = tmp_path / "acme_parsers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-parsers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""\
            [mqtt_monitor.parsers]
            meter = {CUSTOM}:MeterParser
            """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    assert "acme_meter" in get_registry().names()
    assert "entry point 'meter'" in get_registry().source("acme_meter")


def test_the_most_specific_filter_wins_and_project_parsers_win_ties(registry):
    paths = [f"{CUSTOM}.{name}" for name in ("BroadTeleParser", "ExactPlugParser", "MeterParser")]
    with override_settings(MQTT_PARSERS=paths):
        claim = get_registry().claim
        assert claim("tele/plug/SENSOR", b"{}").name == "acme_plug"  # three literal levels
        assert claim("tele/lamp/SENSOR", b"{}").name == "acme_meter"  # ties tasmota's tele/+/SENSOR
        assert claim("tele/lamp/STATE", b"{}").name == "tasmota"  # tele/+/STATE beats tele/#
        assert claim("tele/lamp/LWT", b"Online").name == "acme_tele"


def test_payload_recognition_asks_project_parsers_before_the_fallbacks(registry):
    with override_settings(MQTT_PARSERS=[f"{CUSTOM}.CrashingParser"]):
        claim = get_registry().claim
        assert claim("meters/1", b'{"kwh": 3}').name == "crashing"
        assert claim("meters/1", b'{"kwh": 3, "v": 1}').name == "generic_json"
        assert claim("meters/1", b'[{"n": "a", "v": 1}]').name == "senml"
        assert claim("meters/1", b"12").name == "plain_number"


@pytest.mark.parametrize("payload", [b"hello", b"", b"\xff\xfe", b"[1, 2]", b"   "])
def test_payloads_nobody_recognises_are_left_unclaimed(registry, payload):
    assert registry.claim("some/topic", payload) is None


def test_topics_starting_with_a_dollar_are_not_matched_by_leading_wildcards(registry):
    assert registry.claim("$SYS/broker/events/rpc", b"x") is None


def test_get_and_run_of_an_unknown_name_raise_unknown_parser(registry):
    with pytest.raises(KeyError):
        registry.get("nope")
    with pytest.raises(UnknownParser) as caught:
        registry.run("nope", "a", b"1", RECEIVED_AT)
    assert (caught.value.kind, caught.value.parser) == ("unknown_parser", "nope")


def test_every_parser_has_a_json_schema_and_a_description(registry):
    described = {entry["name"]: entry for entry in registry.describe()}
    assert set(described) == set(BUILTINS)
    assert described["senml"]["schema"]["type"] == "array"
    assert registry.schema("plain_number")["properties"]["value"]
    assert all(entry["description"] for entry in described.values())


def test_metadata_topics_ending_in_a_dollar_level_are_not_claimed_by_sniffing():
    from mqtt_app.parsers import get_registry

    registry = get_registry()
    assert registry.claim("homie/climate-01/$homie", b"4.0") is None
    assert registry.claim("homie/climate-01/$state", b"ready") is None
    assert registry.claim("sensors/meter-01/temperature", b"21.5").name == "plain_number"
