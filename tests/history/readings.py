"""Readings written as ingestion writes them, and what their buckets must hold (computed here, in Python)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection as db
from django.utils import timezone

from mqtt_app.ingest import partitions
from mqtt_app.models import MqttTopic, TelemetryReading, ValueType


def add(topic: MqttTopic, metric: str, points: Iterable[tuple[datetime, float]], received: datetime | None = None,
        value_type: str = ValueType.NUMBER) -> None:  # fmt: skip
    TelemetryReading.objects.bulk_create(
        TelemetryReading(connection_id=topic.connection_id, topic=topic, metric=metric, value=value,
                         value_type=value_type, timestamp=at, received_at=received or at)
        for at, value in points
    )  # fmt: skip


def expected(topic: MqttTopic, metric: str, width: int, since: datetime, until: datetime) -> dict[datetime, tuple]:
    """(min, max, sum, count) per bucket of `width` seconds, from the raw numeric readings, in Python."""
    found: dict[datetime, list[float]] = {}
    for at, value in TelemetryReading.objects.filter(
        topic=topic, metric=metric, value_type=ValueType.NUMBER, timestamp__gte=since, timestamp__lt=until
    ).values_list("timestamp", "value"):
        start = datetime.fromtimestamp(math.floor(at.timestamp() / width) * width, tz=UTC)
        found.setdefault(start, []).append(value)
    return {start: (min(v), max(v), sum(v), len(v)) for start, v in found.items()}


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def hours_ago(n: float) -> datetime:
    return minute(timezone.now()) - timedelta(hours=n)


def closed_partition(table: partitions.Partitioned, days_ago: int = 5) -> datetime:
    """The start of a dated partition `days_ago` days back, made if missing. The partition an earlier test's
    conversion of a filled table left (`_legacy`, up to two days ahead) would overlap it: it goes first."""
    day = timedelta(days=1)
    start = partitions.boundary_at_or_before(timezone.now() - days_ago * day)
    existing = table.partitions()
    for legacy in (p for p in existing if p.start is None and p.end is not None):
        with db.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table.table()} DETACH PARTITION {legacy.name}")
            cursor.execute(f"DROP TABLE {legacy.name}")
    if table.name_for(start) not in {p.name for p in existing}:
        table.create(start, start + day)
    return start
