"""The raw-message archive: only topics with keep_raw_days keep their payloads, byte for byte, once per batch,
and retention keeps each topic's own number of days."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from mqtt_app.ingest import archive, partitions
from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import MqttTopic, RawMessage
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db(transaction=True)
ODD = [b"21.5", b"\x00\xff\xfe not text", b'{"\\ud800": 1}', b""]


def archived(topic: str) -> list[bytes]:
    rows = RawMessage.objects.filter(topic__topic=topic).order_by("received_at", "id").values_list("payload", flat=True)
    return [bytes(p) for p in rows]


def test_nothing_is_archived_unless_asked(connection):
    ingest_batch(make_batch(connection.pk, [("plant/t", b"1")]))

    assert RawMessage.objects.count() == 0


def test_a_connection_archives_every_topic_byte_for_byte_and_a_redelivered_batch_adds_nothing(connection):
    connection.keep_raw_days = 7
    connection.save()
    batch_id = str(uuid.uuid4())
    batch = make_batch(connection.pk, [("plant/odd", p) for p in ODD], batch_id=batch_id)

    assert ingest_batch(batch).status == "stored"
    assert ingest_batch(batch).status == "duplicate"

    assert archived("plant/odd") == ODD
    row = RawMessage.objects.filter(topic__topic="plant/odd").first()
    assert (row.connection_id, row.qos, row.retain) == (connection.pk, 1, False)


def test_a_topic_setting_overrides_its_connection(connection):
    ingest_batch(make_batch(connection.pk, [("plant/kept", b"1"), ("plant/other", b"2")]))
    MqttTopic.objects.filter(topic="plant/kept").update(keep_raw_days=3)
    connection.keep_raw_days = 7
    connection.save()
    MqttTopic.objects.filter(topic="plant/other").update(keep_raw_days=0)
    archive.policy.forget()

    ingest_batch(make_batch(connection.pk, [("plant/kept", b"3"), ("plant/other", b"4"), ("plant/new", b"5")]))

    assert (archived("plant/kept"), archived("plant/other"), archived("plant/new")) == ([b"3"], [], [b"5"])


def test_retention_keeps_each_topics_own_days_and_drops_what_is_switched_off(connection):
    connection.keep_raw_days = 2
    connection.save()
    now = timezone.now()
    ingest_batch(make_batch(connection.pk, [("a", b"old"), ("b", b"old")], at=(now - timedelta(days=5)).timestamp()))
    ingest_batch(make_batch(connection.pk, [("a", b"new"), ("b", b"new")]))
    MqttTopic.objects.filter(topic="b").update(keep_raw_days=10)

    apply_retention()
    assert (archived("a"), archived("b")) == ([b"new"], [b"old", b"new"])

    MqttTopic.objects.filter(topic="b").update(keep_raw_days=0)
    apply_retention()
    assert (archived("a"), archived("b")) == ([b"new"], [])


@pytest.mark.skipif(db.vendor != "postgresql", reason="partitions are PostgreSQL's; SQLite keeps a plain table")
def test_postgresql_keeps_the_archive_in_day_partitions_and_drops_expired_ones_whole(connection):
    connection.keep_raw_days = 2
    connection.save()
    now = timezone.now()
    old_day = partitions.boundary_at_or_before(now - timedelta(days=5))
    old = partitions.raw_messages.create(old_day, old_day + partitions.interval())  # as the beat task made it then
    ingest_batch(make_batch(connection.pk, [("a", b"old")], at=(old_day + timedelta(hours=1)).timestamp()))
    ingest_batch(make_batch(connection.pk, [("a", b"new")]))
    with db.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, payload FROM mqtt_rawmessage ORDER BY received_at")
        placed = [(table, bytes(payload)) for table, payload in cursor.fetchall()]

    archive.expire(now, 1000)

    assert placed == [(old, b"old"), (partitions.raw_messages.name_for(partitions.boundary_at_or_before(now)), b"new")]
    assert old not in {p.name for p in partitions.raw_messages.partitions()} and archived("a") == [b"new"]
