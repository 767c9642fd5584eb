"""`Parser.read`: Pydantic's one-step JSON validation (the hot path) gives what `load` then `validate` give,
and anything it refuses or must not see goes the long way, so failures read as they always have."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mqtt_app.parsers import base

from .support import FIXTURES, RECEIVED_AT, failure_of

EXAMPLES = sorted(path for path in FIXTURES.glob("*/*.json"))
TOPICS = {
    "senml": "dev/senml",
    "shelly": "shellyplus1pm-a8032ab12345/events/rpc",
    "tasmota": "tele/plug/SENSOR",
    "zigbee2mqtt": "zigbee2mqtt/kitchen",
}


def long_way(parser, topic: str, text: str):
    return parser.validate(topic, parser.load(text), RECEIVED_AT)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_documentation_example_reads_the_same_both_ways(registry, path):
    parser, topic, text = registry.get(path.parent.name), TOPICS[path.parent.name], path.read_text()
    fused, long = parser.read(topic, text, RECEIVED_AT), long_way(parser, topic, text)
    assert fused == long
    assert parser.parse(topic, fused) == parser.parse(topic, long)


@pytest.mark.parametrize("name", ["generic_json", "tasmota", "zigbee2mqtt", "shelly", "senml"])
def test_the_json_parsers_take_the_one_step_path(registry, name, monkeypatch):
    parser = registry.get(name)
    monkeypatch.setattr(type(parser), "load", lambda self, text: pytest.fail("the long way was taken"))
    text = {
        "generic_json": '{"a": 1}',
        "tasmota": '{"ENERGY": {"Power": 3}}',
        "zigbee2mqtt": '{"temperature": 20}',
        "shelly": '{"src": "s", "method": "NotifyStatus", "params": {"switch:0": {"apower": 1}}}',
        "senml": '[{"n": "t", "v": 1}]',
    }[name]
    assert parser.read("a/b", text, RECEIVED_AT)


def test_text_parsers_and_parsers_with_their_own_steps_keep_the_long_way(registry):
    assert not registry.get("homie")._fused
    assert not registry.get("plain_number")._fused
    assert registry.get("generic_json")._fused


@pytest.mark.parametrize(
    ("name", "topic", "payload", "kind", "location"),
    [
        # NaN is taken by the one-step path where a field is Any: the long way refuses it as JSON.
        ("generic_json", "a/b", b'{"a": {"b": NaN}}', "json", ""),
        ("zigbee2mqtt", "zigbee2mqtt/x", b'{"extra": -Infinity}', "json", ""),
        # A syntax error keeps the standard library's location, not jiter's.
        ("tasmota", "tele/p/SENSOR", b'{"ENERGY": {"Power": 3}', "json", "line 1 column 24"),
        # A must-understand SenML key, plain or escaped, is seen only by the long way.
        ("senml", "a/senml", b'[{"n": "t", "v": 1, "x_": 2}]', "validation", "0"),
        ("senml", "a/senml", b'[{"n": "t", "v": 1, "x\\u005f": 2}]', "validation", "0"),
        # Too deep for the limit: refused before anything is validated.
        ("generic_json", "a/b", b'{"a":' * 40 + b"1" + b"}" * 40, "json", ""),
    ],
)
def test_what_the_one_step_path_must_not_take_fails_as_the_long_way_says(
    registry, name, topic, payload, kind, location
):
    failure = failure_of(registry, name, topic, payload)
    assert (failure.kind, failure.location) == (kind, location)


def test_text_jiter_refuses_but_the_standard_library_takes_still_parses(registry):
    # A lone surrogate escape: valid JSON to Python's json module, refused by Pydantic's parser.
    assert base.load_json('{"a": "\\ud800", "b": 1}') == {"a": "\ud800", "b": 1}
    readings = registry.run("generic_json", "a/b", b'{"a": "\\ud800", "b": 1}', RECEIVED_AT)
    assert [(reading.metric, reading.value) for reading in readings] == [("b", 1.0)]


def test_a_parser_can_keep_python_mode_validation(registry):
    from datetime import datetime

    from pydantic import BaseModel, ConfigDict

    from mqtt_app.parsers import Parser

    class Strict(BaseModel):
        model_config = ConfigDict(strict=True)
        at: datetime

    class OneStep(Parser):
        name = "strict_one_step"
        payload_model = Strict

        def parse(self, topic, payload):  # noqa: ANN001, ANN202
            return []

    class PythonMode(OneStep):
        name = "strict_python"
        json_in_one_step = False

    text = '{"at": "2024-01-01T00:00:00Z"}'
    assert OneStep().read("a/b", text, RECEIVED_AT).at.year == 2024  # JSON mode: ISO text is a datetime
    assert not PythonMode._fused
    with pytest.raises(ValidationError):  # Python mode, strict: text is not a datetime
        PythonMode().read("a/b", text, RECEIVED_AT)


def test_a_senml_subclass_with_its_own_validation_is_not_skipped():
    from mqtt_app.parsers.senml import SenMLParser

    class Picky(SenMLParser):
        name = "picky_senml"

        def validate(self, topic, data, received_at):  # noqa: ANN001, ANN202
            raise base.ParseFailure.invalid("0", "picky", "picky")

    with pytest.raises(base.ParseFailure, match="picky"):
        Picky().read("a/senml", '[{"n": "t", "v": 1}]', RECEIVED_AT)
    assert SenMLParser._own_steps and not Picky._own_steps


def test_flattening_a_lone_value_respects_the_field_limit_too():
    from mqtt_app.parsers.common import flatten

    assert flatten(5, prefix="x") == [("x", 5)]
    with pytest.raises(base.ParseFailure):
        flatten(5, prefix="x", max_fields=0)
