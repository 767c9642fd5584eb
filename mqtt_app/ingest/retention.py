"""Retention: delete readings and log rows older than the settings, in bounded chunks.

Each chunk is its own short transaction (select ids, delete by id), so a big backlog never holds a long lock
or builds one huge DELETE; ingestion keeps running between chunks. On PostgreSQL the readings are partitioned by
arrival time (ingest/partitions.py): whole partitions older than the retention are dropped instead, and rows are
deleted only where no dated partition holds them (the partition kept from before partitioning, and the default).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from mqtt_app.alerts.models import Alert
from mqtt_app.models import (
    AuditEntry,
    IngestBatch,
    MqttConnectionLog,
    MqttParsingLog,
    MqttTopic,
    ReparseJob,
    TelemetryReading,
)

from . import archive, partitions
from .sql import delete_in_chunks

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 5000


def retention_plan() -> list[tuple[type[models.Model], str, int]]:
    """(model, age field, days) read at call time so override_settings works."""
    logs = settings.MQTT_LOG_RETENTION_DAYS
    return [
        (TelemetryReading, "received_at", settings.MQTT_READING_RETENTION_DAYS),  # BRIN-indexed
        (MqttConnectionLog, "created_at", logs),
        (MqttParsingLog, "last_seen_at", logs),
        (IngestBatch, "processed_at", logs),
        (AuditEntry, "at", logs),  # who changed what: kept as long as the connection events it explains
        (Alert, "resolved_at", logs),  # alert history; open alerts (no resolved_at) are never deleted
        (ReparseJob, "finished_at", logs),  # running jobs (no finished_at) are never deleted
    ]


def apply_retention(chunk_size: int | None = None) -> dict[str, int]:
    chunk = chunk_size or int(settings.MQTT_RETENTION_CHUNK)
    now = timezone.now()
    deleted: dict[str, int] = {}
    for model, field, days in retention_plan():
        cutoff = now - timedelta(days=days)
        if model is TelemetryReading and partitions.enabled():
            deleted[model.__name__] = _readings(cutoff, now, chunk)
            continue
        deleted[model.__name__] = delete_older(model, field, cutoff, chunk)
    from mqtt_app.history.rollup import trim  # rollups keep their own, longer retention

    deleted["SeriesRollup"] = trim(now, chunk)
    deleted["RawMessage"] = archive.expire(now, chunk)  # each topic's own keep_raw_days
    deleted["MqttTopic"] = forget_silent_topics(now)
    if any(deleted.values()):
        logger.info("retention deleted %s", deleted)
    return deleted


def _readings(cutoff, now, chunk: int) -> int:  # noqa: ANN001
    """Partitions ahead created, expired ones dropped (with their compacted blocks), closed ones compacted, then
    the rows before the dated partitions trimmed."""
    from mqtt_app.history import compaction  # it reads the rollup state, whose module imports this one's callers

    partitions.ensure(now)
    _, dropped = partitions.drop_expired(cutoff)
    compaction.blocks.drop_expired(cutoff)
    compaction.compact(now)
    start = partitions.oldest_start()
    trimmed = delete_older(TelemetryReading, "received_at", min(cutoff, start) if start else cutoff, chunk)
    return dropped + trimmed


def forget_silent_topics(now, chunk: int = 200) -> int:  # noqa: ANN001
    """Topics silent past MQTT_TOPIC_RETENTION_DAYS (never sooner than the readings' retention) go, with what
    history they still have; those a person chose a parser for, or an alert rule names, stay."""
    days = max(int(settings.MQTT_TOPIC_RETENTION_DAYS), int(settings.MQTT_READING_RETENTION_DAYS))
    silent = MqttTopic.objects.filter(
        last_seen_at__lt=now - timedelta(days=days), parser_locked=False, alert_rules__isnull=True
    )
    return delete_in_chunks(silent, chunk)  # a topic delete locks its connections, like every topic delete


def delete_older(model: type[models.Model], field: str, cutoff, chunk: int) -> int:  # noqa: ANN001
    return delete_in_chunks(model._default_manager.filter(**{f"{field}__lt": cutoff}), chunk)
