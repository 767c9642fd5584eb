"""The worker's cache of topic rows: batches after the first skip the topic lookup, and a stale entry (a topic
given another parser, switched off or deleted since) never stores anything the database would not."""

from __future__ import annotations

import pytest

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.ingest.topics import topic_cache
from mqtt_app.models import MqttTopic, TelemetryReading
from tests.ingest.batches import make_batch

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


def test_a_cache_that_fills_up_during_the_lookup_still_finds_every_known_topic(connection, monkeypatch):
    ingest_batch(make_batch(connection.pk, [("a", b"1"), ("b", b"2"), ("c", b"3")]), announce=False)
    topic_cache.rows.pop((connection.pk, "c"))  # "a" and "b" cached, "c" known to the database only
    monkeypatch.setattr(topic_cache, "size", 2)  # remembering "c" empties the cache

    outcome = ingest_batch(make_batch(connection.pk, [("a", b"4"), ("b", b"5"), ("c", b"6")]), announce=False)

    assert (outcome.new_topics, outcome.dropped, outcome.readings) == (0, 0, 3)
    assert sorted(MqttTopic.objects.values_list("topic", "message_count")) == [("a", 2), ("b", 2), ("c", 2)]


def test_a_cached_topic_deleted_and_created_again_elsewhere_is_found_even_at_the_topic_cap(connection, settings):
    from django.utils import timezone

    ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"20")]), announce=False)
    stale = cached(connection, "home/hall/temperature").pk
    # Meanwhile staff delete the topic and another worker (with no cache) discovers it again.
    MqttTopic.objects.filter(pk=stale).delete()
    now = timezone.now()
    fresh = MqttTopic.objects.create(
        connection=connection, topic="home/hall/temperature", is_processable=True, parser_name="plain_number",
        first_seen_at=now, last_seen_at=now, message_count=1,
    )  # fmt: skip
    settings.MQTT_MAX_TOPICS_PER_CONNECTION = 1  # no room for another row

    outcome = ingest_batch(make_batch(connection.pk, [("home/hall/temperature", b"22")]), announce=False)

    assert (outcome.new_topics, outcome.dropped, outcome.readings) == (0, 0, 1)
    fresh.refresh_from_db()
    assert fresh.message_count == 2
    assert cached(connection, "home/hall/temperature").pk == fresh.pk
