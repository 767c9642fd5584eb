"""A retained message resent because the connection subscribed again is not news: no reading, no traffic, no
sign of life, unless its payload is not the one last stored for its topic."""

from __future__ import annotations

import time

import pytest

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttConnection, MqttTopic, TelemetryReading
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db


def state(connection: MqttConnection, name: str) -> tuple:
    topic = MqttTopic.objects.get(connection=connection, topic=name)
    connection.refresh_from_db()
    readings = TelemetryReading.objects.filter(topic=topic).count()
    return readings, topic.message_count, topic.last_seen_at, connection.messages_received, connection.last_message_at


def test_replays_of_the_stored_payload_change_nothing(connection):
    first = time.time() - 60
    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"21.5")], retain=True, at=first))
    before = state(connection, "home/a/temperature")

    for n in range(5):  # five reconnects, each one replaying the broker's retained message
        outcome = ingest_batch(
            make_batch(connection.pk, [("home/a/temperature", b"21.5")], retain=True, at=first + n + 1)
        )
        assert (outcome.status, outcome.readings) == ("stored", 0)

    assert before[0] == 1 and state(connection, "home/a/temperature") == before


def test_a_replay_with_another_payload_is_stored_once_and_marked_retained(connection):
    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"21.5")]))
    changed = [("home/a/temperature", b"19.0")]

    ingest_batch(make_batch(connection.pk, changed, retain=True))
    ingest_batch(make_batch(connection.pk, changed, retain=True))

    readings, count, _, received, _ = state(connection, "home/a/temperature")
    topic = MqttTopic.objects.get(topic="home/a/temperature")
    assert (readings, count, received) == (2, 2, 2)
    assert topic.retained and bytes(topic.last_payload) == b"19.0"


def test_live_messages_with_the_same_payload_are_ordinary_readings(connection):
    for _ in range(3):
        ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"21.5")]))

    readings, count, _, received, _ = state(connection, "home/a/temperature")
    assert (readings, count, received) == (3, 3, 3)


def test_replays_within_one_batch_and_beside_live_messages(connection):
    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"1"), ("home/b/temperature", b"2")]))
    batch = make_batch(connection.pk, [("home/a/temperature", b"1"), ("home/b/temperature", b"3")], retain=True)
    batch["parts"] += make_batch(connection.pk, [("home/c/temperature", b"4")])["parts"]  # merged into one part

    outcome = ingest_batch(batch)

    assert (outcome.messages, outcome.readings) == (2, 2)  # b's new retained payload and c's live message
    connection.refresh_from_db()
    assert connection.messages_received == 4
    assert MqttTopic.objects.get(topic="home/a/temperature").message_count == 1
