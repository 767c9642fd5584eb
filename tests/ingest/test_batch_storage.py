"""A batch stores topics, readings and counters once, whatever redelivery or races happen."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connections

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import IngestBatch, MqttConnection, MqttTopic, TelemetryReading
from tests.ingest.batches import make_batch


@pytest.mark.django_db
def test_a_batch_stores_readings_and_counts_each_topic_once(connection):
    batch = make_batch(
        connection.pk,
        [
            ("home/kitchen/temperature", b"21.5"),
            ("home/kitchen/temperature", b"22.0"),
            ("site/boiler", b'{"water": {"temp": 61.5}, "on": true}'),
        ],
    )

    outcome = ingest_batch(batch)

    assert outcome.status == "stored"
    assert outcome.readings == 4
    temperature = MqttTopic.objects.get(connection=connection, topic="home/kitchen/temperature")
    assert (temperature.message_count, temperature.parser_name, temperature.is_processable) == (2, "plain_number", True)
    assert bytes(temperature.last_payload) == b"22.0"
    values = TelemetryReading.objects.filter(topic=temperature).order_by("value").values_list("metric", "value")
    assert list(values) == [("temperature", 21.5), ("temperature", 22.0)]
    boiler = TelemetryReading.objects.filter(topic__topic="site/boiler")
    assert {(r.device, r.metric, r.display_value) for r in boiler} == {
        ("boiler", "water.temp", 61.5),
        ("boiler", "on", True),
    }
    connection.refresh_from_db()
    assert connection.messages_received == 3
    assert connection.last_message_at is not None
    assert IngestBatch.objects.get(pk=batch["id"]).reading_count == 4


@pytest.mark.django_db
def test_unparsed_topics_are_discovered_and_counted(connection):
    ingest_batch(make_batch(connection.pk, [("cam/1/frame", b"\x89PNG\r\n"), ("notes", b"hello there")] * 3))
    ingest_batch(make_batch(connection.pk, [("notes", b"again")], retain=True))

    topics = {t.topic: t for t in MqttTopic.objects.filter(connection=connection)}
    assert set(topics) == {"cam/1/frame", "notes"}
    assert topics["notes"].message_count == 4
    assert topics["cam/1/frame"].message_count == 3
    assert not topics["notes"].is_processable and topics["notes"].parser_name == ""
    assert topics["notes"].retained and bytes(topics["notes"].last_payload) == b"again"
    assert TelemetryReading.objects.count() == 0
    connection.refresh_from_db()
    assert connection.messages_received == 7


@pytest.mark.django_db
def test_a_redelivered_batch_stores_nothing_twice(connection):
    batch = make_batch(connection.pk, [("home/hall/humidity", b"40"), ("notes", b"x")])

    first, second = ingest_batch(batch), ingest_batch(batch)

    assert (first.status, second.status) == ("stored", "duplicate")
    assert TelemetryReading.objects.count() == 1
    assert MqttTopic.objects.get(topic="notes").message_count == 1
    connection.refresh_from_db()
    assert connection.messages_received == 2
    assert (connection.messages_stored, connection.messages_failed, connection.readings_stored) == (2, 0, 1)


@pytest.mark.django_db
def test_each_batch_adds_its_final_counts_to_the_connection_counters_which_retention_never_lowers(connection):
    ingest_batch(make_batch(connection.pk, [("home/hall/humidity", b"40"), ("home/hall/humidity", b"wet")]))
    ingest_batch(make_batch(connection.pk, [("senml/dev", b'[{"n": "a", "v": 1}, {"n": "b", "v": 2}]')]))

    connection.refresh_from_db()
    assert (connection.messages_stored, connection.messages_failed, connection.readings_stored) == (2, 1, 3)
    IngestBatch.objects.all().delete()  # what retention does to batch rows after MQTT_LOG_RETENTION_DAYS
    connection.refresh_from_db()
    assert (connection.messages_stored, connection.messages_failed, connection.readings_stored) == (2, 1, 3)


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_batch_store_it_once(connection):
    batch = make_batch(connection.pk, [(f"home/room{i}/temperature", b"20") for i in range(50)])
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            statuses.append(ingest_batch(batch, announce=False).status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == ["duplicate", "stored"]
    assert TelemetryReading.objects.count() == 50
    assert MqttConnection.objects.get(pk=connection.pk).messages_received == 50


@pytest.mark.django_db
def test_a_batch_for_a_deleted_connection_is_dropped_cleanly(connection):
    batch = make_batch(connection.pk, [("home/a/b", b"1")])
    connection.delete()

    assert ingest_batch(batch).status == "no_connection"
    assert not IngestBatch.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"id": "nope", "parts": [{"connection_id": 1}]},
        {"id": str(uuid.uuid4()), "parts": [{"connection_id": "x"}]},
        {"id": str(uuid.uuid4()), "connection_id": 1, "messages": []},  # no parts: not the wire format
    ],
)
def test_an_unusable_batch_is_dropped_with_a_clear_status(raw):
    assert ingest_batch(raw).status == "bad_batch"


@pytest.mark.django_db
def test_malformed_entries_are_counted_but_the_rest_stored(connection):
    batch = make_batch(connection.pk, [("home/a/volts", b"12")])
    part = batch["parts"][0]
    part["topics"] += ["x", "", 5]  # a payload that is not bytes, an empty topic, a topic that is not text
    part["payloads"] += ["text", b"1", b"2"]
    part["qos"] += [1, 1, 1]
    part["retain"] += [False, False, False]
    part["received_at"] += [1.0, 1.0, 1.0]

    outcome = ingest_batch(batch)

    assert outcome.readings == 1
    connection.refresh_from_db()
    assert connection.messages_received == 4


@pytest.mark.django_db
def test_topics_beyond_the_cap_are_counted_on_the_connection_with_one_warning(connection, settings, caplog):
    settings.MQTT_MAX_TOPICS_PER_CONNECTION = 3
    ingest_batch(make_batch(connection.pk, [(f"t/{i}", b"1") for i in range(5)]))
    ingest_batch(make_batch(connection.pk, [(f"t/{i}", b"1") for i in range(5, 8)] + [("t/0", b"2")]))

    assert MqttTopic.objects.filter(connection=connection).count() == 3
    assert MqttTopic.objects.get(topic="t/0").message_count == 2
    connection.refresh_from_db()
    assert connection.messages_received == 9
    assert len([r for r in caplog.records if "MQTT_MAX_TOPICS_PER_CONNECTION" in r.getMessage()]) == 1
