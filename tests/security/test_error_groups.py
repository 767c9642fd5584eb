"""Error groups and learned Homie attributes are keyed by what the operator controls, not by the device."""

from __future__ import annotations

from mqtt_app.ingest.errors import fingerprint
from mqtt_app.parsers import homie
from mqtt_app.parsers.base import load_json


def json_failure_location(text: str) -> str:
    from mqtt_app.parsers import ParseFailure

    try:
        load_json(text)
    except ParseFailure as failure:
        return failure.location
    raise AssertionError("parsed")


def test_json_syntax_errors_at_different_columns_share_one_group():
    locations = {json_failure_location('{"t": 1' + " " * n + "x}") for n in range(50)}
    assert len(locations) == 50  # the device moves the column with every payload
    assert len({fingerprint(1, "dev/1", "generic_json", "json", loc) for loc in locations}) == 1


def test_validation_paths_count_array_elements_as_one_but_keep_fields_apart():
    by_index = {fingerprint(1, "t", "senml", "validation", f"e.{i}.v") for i in range(100)}
    assert len(by_index) == 1
    assert fingerprint(1, "t", "senml", "validation", "e.0.v") != fingerprint(1, "t", "senml", "validation", "e.0.n")


def test_groups_stay_per_connection_topic_parser_and_kind():
    base = fingerprint(1, "t", "p", "json", "line 1 column 2")
    assert base != fingerprint(2, "t", "p", "json", "line 1 column 2")
    assert base != fingerprint(1, "u", "p", "json", "line 1 column 2")
    assert base != fingerprint(1, "t", "p", "validation", "")


def test_homie_attributes_learned_on_one_connection_do_not_change_another():
    homie.forget_all()
    parser = homie.HomieParser()
    topic = "homie/boiler/main/temperature"
    try:
        with homie.on_connection(1):
            parser.parse(f"{topic}/$datatype", homie.HomieValue(value="string"))
            parser.parse(f"{topic}/$unit", homie.HomieValue(value="°F"))
        with homie.on_connection(2):
            parser.parse(f"{topic}/$unit", homie.HomieValue(value="°C"))
            reading = parser.parse(topic, parser.validate(topic, parser.load("21.5"), None))[0]
            assert (reading.value, reading.unit) == (21.5, "°C")  # site 1's "string" does not apply here
        with homie.on_connection(1):
            reading = parser.parse(topic, parser.validate(topic, parser.load("21.5"), None))[0]
            assert (reading.value, reading.unit) == ("21.5", "°F")
    finally:
        homie.forget_all()
