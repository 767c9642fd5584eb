"""Readings into TelemetryReading rows: `bulk_create`, or PostgreSQL COPY (psycopg 3) where it is faster.

Measured (see the mqtt_bench report): COPY costs a fraction of bulk_create's per-row CPU on PostgreSQL, so
it is the default there; MQTT_INGEST_COPY=false falls back to bulk_create.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from mqtt_app.models import TelemetryReading, ValueType

from .sql import copy_rows
from .text import clean_text

logger = logging.getLogger(__name__)

COLUMNS = (
    "connection_id",
    "topic_id",
    "device",
    "metric",
    "value_type",
    "value",
    "text_value",
    "unit",
    "timestamp",
    "received_at",
)
BULK_BATCH = 1000
COPY_TYPES = ("int8", "int8", "text", "text", "text", "float8", "text", "text", "timestamptz", "timestamptz")


_NUMBER, _BOOLEAN, _TEXT = ValueType.NUMBER.value, ValueType.BOOLEAN.value, ValueType.TEXT.value


def build_row(connection_id: int, topic_id: int, reading, received_at: datetime) -> tuple:  # noqa: ANN001 - parsers.Reading
    """One reading as a tuple in COLUMNS order (cheaper than a model instance when COPY is used).

    `reading` comes from ParserRegistry.run, which has checked it: value a finite float, bool, str or None,
    names and unit within their column lengths, timestamp filled in. This runs once per reading (several per
    message), so it only does what that check leaves: what text columns cannot hold (clean_text), naive times
    as UTC, the value into its column. Booleans are stored as 1.0/0.0.
    """
    value = reading.value
    kind = value.__class__
    if kind is float or value is None:
        value_type, number, text = _NUMBER, value, ""
    elif kind is bool:
        value_type, number, text = _BOOLEAN, 1.0 if value else 0.0, ""
    else:
        value_type, number, text = _TEXT, None, clean_text(str(value))
    timestamp = reading.timestamp or received_at
    if timestamp.tzinfo is None:  # a parser's naive time is UTC by convention
        timestamp = timestamp.replace(tzinfo=UTC)
    device, metric, unit = clean_text(reading.device), clean_text(reading.metric), clean_text(reading.unit)
    return (connection_id, topic_id, device, metric, value_type, number, text, unit, timestamp, received_at)


def use_copy() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "MQTT_INGEST_COPY", True)


def save_readings(rows: list[tuple]) -> int:
    if not rows:
        return 0
    if use_copy():
        copy_rows(TelemetryReading, COLUMNS, COPY_TYPES, rows)
    else:
        TelemetryReading.objects.bulk_create(
            [TelemetryReading(**dict(zip(COLUMNS, row, strict=True))) for row in rows], batch_size=BULK_BATCH
        )
    return len(rows)
