"""Readings into TelemetryReading rows: `bulk_create`, or PostgreSQL COPY (psycopg 3) where it is faster.

Measured (see the mqtt_bench report): COPY costs a fraction of bulk_create's per-row CPU on PostgreSQL, so
it is the default there; MQTT_INGEST_COPY=false falls back to bulk_create.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from mqtt_app.models import TelemetryReading, ValueType

from .decode import clean_text

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


def build_row(connection_id: int, topic_id: int, reading, received_at: datetime) -> tuple:  # noqa: ANN001 - parsers.Reading
    """One reading as a tuple in COLUMNS order (cheaper than a model instance when COPY is used)."""
    value_type, number, text = split_value(reading.value)
    timestamp = reading.timestamp or received_at
    if timestamp.tzinfo is None:  # a parser's naive time is UTC by convention
        timestamp = timestamp.replace(tzinfo=UTC)
    return (
        connection_id,
        topic_id,
        clean_text(str(reading.device or "")[:255]),
        clean_text(str(reading.metric)[:255]),
        value_type,
        number,
        clean_text(text),
        clean_text(str(reading.unit or "")[:32]),
        timestamp,
        received_at,
    )


def split_value(value: object) -> tuple[str, float | None, str]:
    """(value_type, numeric column, text column). Booleans are 1.0/0.0; NaN and infinities are kept as text."""
    if isinstance(value, bool):
        return ValueType.BOOLEAN, 1.0 if value else 0.0, ""
    if value is None:
        return ValueType.NUMBER, None, ""
    if isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number):
            return ValueType.NUMBER, number, ""
        return ValueType.TEXT, None, str(value)
    return ValueType.TEXT, None, str(value)


def use_copy() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "MQTT_INGEST_COPY", True)


def save_readings(rows: list[tuple]) -> int:
    if not rows:
        return 0
    if use_copy():
        copy_readings(rows)
    else:
        TelemetryReading.objects.bulk_create(
            [TelemetryReading(**dict(zip(COLUMNS, row, strict=True))) for row in rows], batch_size=BULK_BATCH
        )
    return len(rows)


def copy_readings(rows: list[tuple]) -> None:
    """COPY ... FROM STDIN through the Django connection's psycopg cursor: same transaction as the batch."""
    table = connection.ops.quote_name(TelemetryReading._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        # Binary COPY with declared types: psycopg's C dumpers, no text formatting per value.
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:  # noqa: S608
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
