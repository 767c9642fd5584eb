"""One listener batch carries several connections: each connection's rows, counters and errors are its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import IngestBatch, MqttConnection, MqttParsingLog, MqttTopic, TelemetryReading
from tests.ingest.batches import make_multi_batch


@pytest.fixture
def second(connection):
    return MqttConnection.objects.create(site=connection.site, name="second", host="127.0.0.1", port=1884)


@pytest.mark.django_db
def test_a_batch_of_several_connections_stores_each_connections_rows_on_it(connection, second):
    batch = make_multi_batch(
        {
            second.pk: [("home/hall/temperature", b"18"), ("site/pump", b"not json")],
            connection.pk: [("home/hall/temperature", b"21"), ("home/hall/temperature", b"22"), ("notes", b"hi")],
        }
    )

    outcome = ingest_batch(batch)

    assert (outcome.status, outcome.messages, outcome.readings, outcome.new_topics) == ("stored", 5, 3, 4)
    values = TelemetryReading.objects.values_list("connection_id", "topic__connection_id", "value")
    assert sorted(values) == sorted(
        [(connection.pk, connection.pk, 21.0), (connection.pk, connection.pk, 22.0), (second.pk, second.pk, 18.0)]
    )
    first_topic = MqttTopic.objects.get(connection=connection, topic="home/hall/temperature")
    second_topic = MqttTopic.objects.get(connection=second, topic="home/hall/temperature")
    assert (first_topic.message_count, second_topic.message_count) == (2, 1)
    assert MqttTopic.objects.filter(connection=connection).count() == 2
    counts = dict(MqttConnection.objects.values_list("pk", "messages_received"))
    assert (counts[connection.pk], counts[second.pk]) == (3, 2)
    assert all(MqttConnection.objects.values_list("last_message_at", flat=True))
    parts = IngestBatch.objects.filter(batch=batch["id"]).values_list("connection_id", "message_count", "reading_count")
    assert sorted(parts) == sorted([(connection.pk, 3, 2), (second.pk, 2, 1)])  # each connection its own record


@pytest.mark.django_db
def test_parse_errors_of_a_shared_batch_are_grouped_per_connection(connection, second):
    ingest_batch(
        make_multi_batch({connection.pk: [("site/pump", b'{"rpm": 1}')], second.pk: [("site/pump", b'{"rpm": 1}')]})
    )  # claimed by generic_json

    outcome = ingest_batch(
        make_multi_batch({connection.pk: [("site/pump", b'{"rpm": ')] * 2, second.pk: [("site/pump", b'{"rpm": ')]})
    )

    assert outcome.errors == 3
    groups = dict(MqttParsingLog.objects.values_list("connection_id", "count"))
    assert groups == {connection.pk: 2, second.pk: 1}
    assert dict(MqttTopic.objects.values_list("connection_id", "error_count")) == {connection.pk: 2, second.pk: 1}


@pytest.mark.django_db
def test_a_redelivered_shared_batch_stores_nothing_twice(connection, second):
    batch = make_multi_batch({connection.pk: [("home/a/temperature", b"1")], second.pk: [("home/b/temperature", b"2")]})

    statuses = [ingest_batch(batch).status, ingest_batch(batch).status]

    assert statuses == ["stored", "duplicate"]
    assert TelemetryReading.objects.count() == 2
    assert sorted(MqttConnection.objects.values_list("messages_received", flat=True)) == [1, 1]


@pytest.mark.django_db
def test_a_deleted_connection_loses_only_its_own_part(connection, second):
    batch = make_multi_batch(
        {second.pk: [("home/gone/temperature", b"1")], connection.pk: [("home/kept/temperature", b"2")]}
    )
    second.delete()

    outcome = ingest_batch(batch)

    assert (outcome.status, outcome.readings) == ("stored", 1)
    assert IngestBatch.objects.get(batch=batch["id"]).connection_id == connection.pk
    assert list(TelemetryReading.objects.values_list("value", flat=True)) == [2.0]


@pytest.mark.django_db
def test_a_redelivery_after_the_first_connection_was_deleted_stores_nothing_twice(connection, second):
    """The batch records of the other connections survive the deletion and still stop the redelivery."""
    batch = make_multi_batch({second.pk: [("home/a/temperature", b"1")], connection.pk: [("home/b/temperature", b"2")]})
    assert ingest_batch(batch).status == "stored"
    second.delete()

    assert ingest_batch(batch).status == "duplicate"
    assert list(TelemetryReading.objects.values_list("value", flat=True)) == [2.0]
    assert MqttConnection.objects.get().messages_received == 1


@pytest.mark.django_db
@pytest.mark.parametrize("parts", [[], "x", [{"messages": []}], [{"connection_id": 1}]])
def test_a_batch_with_unusable_parts_is_dropped_with_a_clear_status(parts):
    assert ingest_batch({"id": "0b6c8f3e-6f2f-4f59-9d7e-0f0e7c1d2a3b", "parts": parts}).status == "bad_batch"


@pytest.mark.django_db
def test_each_connection_of_a_shared_batch_gets_its_own_live_events(connection, second):
    from tests.ingest.test_live_events import receive, subscribe

    channels = {connection.pk: subscribe(connection.pk), second.pk: subscribe(second.pk)}

    outcome = ingest_batch(
        make_multi_batch(
            {
                connection.pk: [("home/a/temperature", b"1")],
                second.pk: [("home/b/temperature", b"2"), ("home/b/temperature", b"3")],
            }
        )
    )

    assert outcome.events == 6  # topic.discovered, readings, stats for each connection
    for cid, topic, value, total in (
        (connection.pk, "home/a/temperature", 1.0, 1),
        (second.pk, "home/b/temperature", 3.0, 2),
    ):
        events = {event["type"]: event for event in receive(channels[cid], 3)}
        assert [t["topic"] for t in events["topic.discovered"]["topics"]] == [topic]
        assert [(r["topic"], r["value"]) for r in events["readings"]["readings"]] == [(topic, value)]
        assert events["stats"]["messages_received"] == total


@pytest.mark.django_db
def test_health_and_metrics_count_each_connection_its_own_messages_of_a_shared_batch(connection, second):
    from django.utils import timezone

    from mqtt_app.observability.health import message_counts

    ingest_batch(make_multi_batch({connection.pk: [("home/a/temperature", b"1")] * 3, second.pk: [("b/t", b"2")]}))

    now = timezone.now()
    counts = message_counts([connection.pk, second.pk], now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert (counts[connection.pk].received_messages, counts[second.pk].received_messages) == (3, 1)
