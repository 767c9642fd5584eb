"""Retention deletes old readings and log rows in bounded chunks and keeps recent ones."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import IngestBatch, MqttConnectionLog, MqttParsingLog, MqttTopic, TelemetryReading

pytestmark = pytest.mark.django_db


def make_rows(connection, age: timedelta, readings: int) -> None:  # noqa: ANN001
    at = timezone.now() - age
    topic, _ = MqttTopic.objects.get_or_create(
        connection=connection, topic="t", defaults={"first_seen_at": at, "last_seen_at": at}
    )
    TelemetryReading.objects.bulk_create(
        TelemetryReading(connection=connection, topic=topic, metric="m", value=i, timestamp=at, received_at=at)
        for i in range(readings)
    )
    MqttConnectionLog.objects.create(connection=connection, event="connected", created_at=at)
    MqttParsingLog.objects.create(
        connection=connection,
        topic_name="t",
        error_kind="json",
        message="x",
        fingerprint=uuid.uuid4().hex,
        first_seen_at=at,
        last_seen_at=at,
    )
    IngestBatch.objects.create(id=uuid.uuid4(), connection=connection, message_count=1, processed_at=at)


def test_old_rows_are_deleted_in_chunks_and_recent_rows_kept(connection, settings):
    settings.MQTT_READING_RETENTION_DAYS = 30
    settings.MQTT_LOG_RETENTION_DAYS = 14
    make_rows(connection, timedelta(days=40), readings=7)
    make_rows(connection, timedelta(days=20), readings=3)  # readings kept, logs deleted
    make_rows(connection, timedelta(hours=1), readings=2)

    with CaptureQueriesContext(db_connection) as queries:
        deleted = apply_retention(chunk_size=3)

    assert deleted == {"TelemetryReading": 7, "MqttConnectionLog": 2, "MqttParsingLog": 2, "IngestBatch": 2,
                       "AuditEntry": 0, "Alert": 0, "ReparseJob": 0, "SeriesRollup": 0, "RawMessage": 0,
                       "MqttTopic": 0}  # fmt: skip
    reading_deletes = [q for q in queries if q["sql"].startswith("DELETE") and "telemetryreading" in q["sql"]]
    assert len(reading_deletes) == 3  # 7 rows in chunks of 3
    assert TelemetryReading.objects.count() == 5
    assert MqttConnectionLog.objects.count() == MqttParsingLog.objects.count() == IngestBatch.objects.count() == 1


def test_the_retention_task_runs_the_same_retention(connection):
    from tasks.housekeeping import apply_retention as task

    make_rows(connection, timedelta(days=400), readings=1)

    assert task.apply().get()["TelemetryReading"] == 1


def test_readings_age_by_when_they_were_stored_not_by_the_device_clock(connection, settings):
    """A device clock set decades ahead must not make its readings immortal, nor a replayed old value vanish."""
    settings.MQTT_READING_RETENTION_DAYS = 30
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=connection, topic="t", first_seen_at=now, last_seen_at=now)
    TelemetryReading.objects.bulk_create(
        [
            TelemetryReading(  # stored 40 days ago, the device said 2099: deleted
                connection=connection,
                topic=topic,
                metric="future",
                value=1,
                timestamp=now.replace(year=2099),
                received_at=now - timedelta(days=40),
            ),
            TelemetryReading(  # stored today, a backfilled value from last year: kept
                connection=connection,
                topic=topic,
                metric="backfill",
                value=2,
                timestamp=now - timedelta(days=365),
                received_at=now,
            ),
        ]
    )

    assert apply_retention()["TelemetryReading"] == 1
    assert list(TelemetryReading.objects.values_list("metric", flat=True)) == ["backfill"]


def test_topics_silent_past_the_setting_are_forgotten_but_chosen_and_alerted_ones_stay(connection, settings):
    from mqtt_app.alerts.models import AlertRule

    settings.MQTT_READING_RETENTION_DAYS = 30
    settings.MQTT_TOPIC_RETENTION_DAYS = 60
    now = timezone.now()

    def topic(name: str, silent_days: int, **fields) -> MqttTopic:  # noqa: ANN003
        at = now - timedelta(days=silent_days)
        return MqttTopic.objects.create(connection=connection, topic=name, first_seen_at=at, last_seen_at=at, **fields)

    junk = topic("junk/1", 61)
    topic("recent", 59)
    topic("chosen", 400, parser_name="plain_number", parser_locked=True)
    watched = topic("watched", 400)
    AlertRule.objects.create(name="quiet", kind="topic_silent", site=connection.site, connection=connection,
                             topic=watched, for_seconds=60)  # fmt: skip

    assert apply_retention()["MqttTopic"] == 1
    assert not MqttTopic.objects.filter(pk=junk.pk).exists()
    assert set(MqttTopic.objects.values_list("topic", flat=True)) == {"recent", "chosen", "watched"}
