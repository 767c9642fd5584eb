"""Bad payloads become grouped MqttParsingLog rows (or a clear skip), and never stop the rest of a batch."""

from __future__ import annotations

import logging

import pytest

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttParsingLog, MqttTopic, TelemetryReading
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db

TOPIC = "home/cellar/temperature"


def claim_plain_number(connection) -> None:  # noqa: ANN001
    ingest_batch(make_batch(connection.pk, [(TOPIC, b"12.5")]))
    assert MqttTopic.objects.get(topic=TOPIC).parser_name == "plain_number"


def test_each_kind_of_bad_payload_gets_a_record_and_the_good_ones_are_stored(connection, settings):
    settings.MQTT_MAX_PAYLOAD_BYTES = 1000
    claim_plain_number(connection)
    ingest_batch(make_batch(connection.pk, [("site/deep", b'{"a": 1}')]))
    deep = b'{"a": ' * 60 + b"1" + b"}" * 60

    outcome = ingest_batch(
        make_batch(
            connection.pk,
            [
                (TOPIC, b"\xff\xfe\x00"),
                (TOPIC, b""),
                (TOPIC, b"9" * 2000),
                (TOPIC, b"13.0"),
                (TOPIC, b"warm"),
                ("site/deep", deep),
                ("site/deep", b'{"a": 2}'),
            ],
        )
    )

    kinds = set(MqttParsingLog.objects.values_list("error_kind", flat=True))
    assert kinds == {"decode", "empty", "too_large", "validation", "json"}
    assert outcome.errors == 5
    assert sorted(TelemetryReading.objects.values_list("value", flat=True)) == [1.0, 2.0, 12.5, 13.0]
    assert MqttTopic.objects.get(topic=TOPIC).error_count == 4
    validation = MqttParsingLog.objects.get(error_kind="validation")
    assert validation.parser_name == "plain_number" and validation.location.startswith("value")
    assert validation.details and validation.payload_excerpt == "warm"


def test_a_huge_payload_on_an_unparsed_topic_is_counted_logged_and_not_stored(connection, settings, caplog):
    settings.MQTT_MAX_PAYLOAD_BYTES = 100
    ingest_batch(make_batch(connection.pk, [("cam/frame", b"small")]))

    ingest_batch(make_batch(connection.pk, [("cam/frame", b"x" * 5000)]))

    topic = MqttTopic.objects.get(topic="cam/frame")
    assert topic.message_count == 2
    assert bytes(topic.last_payload) == b"small"  # the oversized payload is not kept, even as a sample
    assert not MqttParsingLog.objects.exists()
    assert any(r.name == "mqtt.parsing" and "5000 bytes skipped" in r.getMessage() for r in caplog.records)


def test_the_same_failure_in_a_burst_is_one_row_with_a_count(connection, caplog):
    claim_plain_number(connection)
    caplog.set_level(logging.WARNING, logger="mqtt.parsing")

    ingest_batch(make_batch(connection.pk, [(TOPIC, b"warm")] * 3))
    ingest_batch(make_batch(connection.pk, [(TOPIC, b"hot")]))

    row = MqttParsingLog.objects.get()
    assert row.count == 4 and row.payload_excerpt == "hot"
    assert row.last_seen_at > row.first_seen_at
    lines = [r.getMessage() for r in caplog.records if r.name == "mqtt.parsing"]
    assert len(lines) == 2  # one line per group per batch, not per message
    assert "kind=validation" in lines[0] and "count=3" in lines[0] and "'warm'" in lines[0]


def test_a_failure_after_the_grouping_window_starts_a_new_row(connection, settings):
    settings.MQTT_PARSE_ERROR_GROUP_WINDOW = 0
    claim_plain_number(connection)

    ingest_batch(make_batch(connection.pk, [(TOPIC, b"warm")], at=1_000_000.0))
    ingest_batch(make_batch(connection.pk, [(TOPIC, b"warm")]))

    assert MqttParsingLog.objects.count() == 2


def test_different_locations_are_different_groups(connection):
    ingest_batch(make_batch(connection.pk, [("site/pump", b'{"rpm": 1}')]))

    ingest_batch(make_batch(connection.pk, [("site/pump", b'{"rpm": '), ("site/pump", b"[1, 2]")]))

    assert MqttParsingLog.objects.filter(topic_name="site/pump").count() == 2


def test_a_parser_exception_is_recorded_and_the_rest_of_the_batch_stored(connection, test_parsers):
    outcome = ingest_batch(
        make_batch(
            connection.pk,
            [
                ("explode/a", b"ok"),
                ("explode/a", b"boom"),
                ("explode/a", b"fine"),
                ("home/x/temperature", b"3"),
            ],
        )
    )

    assert outcome.readings == 3
    row = MqttParsingLog.objects.get()
    assert (row.error_kind, row.parser_name) == ("parser_exception", "test_exploding")
    assert "RuntimeError: kaboom" in row.message
