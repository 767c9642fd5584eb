"""Fixtures for the history tests: a topic and readings written the way ingestion writes them (rows, not ORM
objects with defaults), and an aggregation of raw readings done in Python, independently of the code under test."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading, ValueType


@pytest.fixture
def topic(db) -> MqttTopic:
    site = Site.objects.create(name="Plant")
    connection = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    now = timezone.now()
    return MqttTopic.objects.create(connection=connection, topic="plant/boiler", first_seen_at=now, last_seen_at=now)


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
