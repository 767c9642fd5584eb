"""Small builders for the ops tests: a site with a connection, connection events, batches and readings."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from mqtt_app.models import (
    DeadLetter,
    IngestBatch,
    MqttConnection,
    MqttConnectionLog,
    MqttTopic,
    Site,
    TelemetryReading,
)


def make_connection(name: str = "plant", **fields) -> MqttConnection:
    site, _ = Site.objects.get_or_create(name=fields.pop("site_name", f"Site {name}"))
    defaults = {"host": "127.0.0.1", "port": 1883, "password": "broker-secret-pw"}
    return MqttConnection.objects.create(site=site, name=name, **{**defaults, **fields})


def log_event(connection: MqttConnection, event: str, at: datetime) -> None:
    MqttConnectionLog.objects.create(connection=connection, event=event, created_at=at)


def ingest(connection: MqttConnection, *, parsed: int, failed: int, at: datetime | None = None) -> None:
    """`parsed` messages of two readings each and `failed` messages, as one processed batch."""
    at = at or timezone.now()
    topic, _ = MqttTopic.objects.get_or_create(
        connection=connection, topic="sensors/a/state", defaults={"first_seen_at": at, "last_seen_at": at}
    )
    readings = []
    for i in range(parsed):
        received = at - timedelta(milliseconds=i + 1)
        for metric in ("temperature", "humidity"):
            readings.append(
                TelemetryReading(
                    connection=connection,
                    topic=topic,
                    metric=metric,
                    value=1.0,
                    timestamp=received,
                    received_at=received,
                )
            )
    TelemetryReading.objects.bulk_create(readings)
    IngestBatch.objects.create(
        id=uuid.uuid4(),
        connection=connection,
        message_count=parsed + failed,
        reading_count=2 * parsed,
        error_count=failed,
        processed_at=at,
    )
    MqttTopic.objects.filter(pk=topic.pk).update(error_count=topic.error_count + failed)
    MqttConnection.objects.filter(pk=connection.pk).update(  # as ingestion keeps them
        messages_stored=F("messages_stored") + parsed,
        messages_failed=F("messages_failed") + failed,
        readings_stored=F("readings_stored") + 2 * parsed,
    )


def dead_letter(connection: MqttConnection, at: datetime | None = None) -> DeadLetter:
    """A message the database refused, kept whole."""
    at = at or timezone.now()
    return DeadLetter.objects.create(id=uuid.uuid4(), batch=uuid.uuid4(), connection_id=connection.pk,
                                     topic="sensors/a/state", payload=b"{}", qos=1, received_at=at, created_at=at,
                                     error_kind="x")  # fmt: skip
