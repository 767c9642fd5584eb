"""The worker's cache of topic rows: batches after the first skip the topic lookup, and a stale entry (a topic
given another parser, switched off or deleted since) never stores anything the database would not."""

from __future__ import annotations

import pytest

from mqtt_app.ingest import ingest_batch
from mqtt_app.ingest.topics import topic_cache
from mqtt_app.models import MqttTopic, TelemetryReading
from tests.ingest.conftest import make_batch

# Transactional: the cache takes a batch's rows when its transaction commits (on_commit).
pytestmark = pytest.mark.django_db(transaction=True)


def cached(connection, topic: str):  # noqa: ANN001, ANN201
    return topic_cache.rows.get((connection.pk, topic))


def test_a_committed_batch_leaves_its_topic_rows_for_the_next_batches(connection):
    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20"), ("notes", b"x")]), announce=False)

    row = MqttTopic.objects.get(topic="home/hall/temperature")
    assert cached(connection, "home/hall/temperature").pk == row.pk
    assert cached(connection, "notes").is_processable is False


def test_a_topic_created_by_a_batch_that_rolls_back_is_not_cached(connection):
    batch_id = "3f1c7a52-0000-4000-8000-000000000001"
    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20")], batch_id=batch_id), announce=False)
    # The same batch id again (a redelivery) carrying a topic with no row: created, then rolled back.
    again = make_batch(connection.pk, [("home/hall/temperature", b"20"), ("home/new", b"1")], batch_id=batch_id)

    assert ingest_batch(again, announce=False).status == "duplicate"

    assert not MqttTopic.objects.filter(topic="home/new").exists()
    assert cached(connection, "home/new") is None
    assert cached(connection, "home/hall/temperature") is not None  # a committed row, read before the lock


def test_a_parser_changed_after_the_row_was_cached_applies_to_the_next_batch(connection):
    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20")]), announce=False)
    MqttTopic.objects.filter(topic="home/hall/temperature").update(parser_name="generic_json")

    outcome = ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b'{"t": 21}')]), announce=False)

    assert (outcome.readings, outcome.errors) == (1, 0)  # generic_json's reading, not a plain_number failure
    assert TelemetryReading.objects.filter(metric="t").count() == 1
    assert cached(connection, "home/hall/temperature").parser_name == "generic_json"


def test_a_topic_switched_off_after_the_row_was_cached_stores_no_readings(connection):
    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20")]), announce=False)
    MqttTopic.objects.filter(topic="home/hall/temperature").update(is_processable=False)

    outcome = ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"21")]), announce=False)

    assert outcome.readings == 0
    assert TelemetryReading.objects.count() == 1
    assert MqttTopic.objects.get(topic="home/hall/temperature").message_count == 2


def test_a_topic_deleted_after_the_row_was_cached_is_discovered_again(connection):
    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20")]), announce=False)
    old = MqttTopic.objects.get(topic="home/hall/temperature").pk
    MqttTopic.objects.filter(pk=old).delete()

    outcome = ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"21")]), announce=False)

    new = MqttTopic.objects.get(topic="home/hall/temperature")
    assert new.pk != old and new.message_count == 1 and outcome.new_topics == 1
    assert list(TelemetryReading.objects.values_list("topic_id", "value")) == [(new.pk, 21.0)]
    assert cached(connection, "home/hall/temperature").pk == new.pk


def test_the_cache_empties_itself_when_full(connection, monkeypatch):
    monkeypatch.setattr(topic_cache, "size", 2)
    ingest_batch(make_batch(connection.pk, [("a", b"1"), ("b", b"2")]), announce=False)
    assert len(topic_cache.rows) == 2

    ingest_batch(make_batch(connection.pk, [("c", b"3")]), announce=False)

    assert len(topic_cache.rows) <= 2 and cached(connection, "c") is not None
