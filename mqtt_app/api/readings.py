"""`GET /api/readings?topic=&connection=&metric=&since=&until=&limit=`: newest first; `format=csv` streams.

JSON pages are not counted (the table is the biggest in the database); follow `next_offset`, or narrow with
`since`/`until`. CSV streams every matching row (or `limit` rows when given) without loading them at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from mqtt_app.models import TelemetryReading, ValueType

from . import auth, timestamps
from .pagination import DEFAULT_LIMIT, MAX_LIMIT, filter_by, page_of, paginate
from .reading_queries import newest_of_connection
from .schemas import ERRORS_READ, Out

router = Router(tags=["readings"], auth=auth.readers())
CSV_COLUMNS = ["timestamp", "received_at", "connection", "topic", "device", "metric", "value", "unit"]
TIME_FIELDS = ("timestamp", "received_at")
VALUE_FIELDS = ("id", "connection_id", "topic_id", "topic__topic", "device", "metric", "value_type", "value",
                "text_value", "unit", *timestamps.text_names(TIME_FIELDS))  # fmt: skip
# Spreadsheets run cells starting with these as formulas (CSV injection): such text cells get a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReadingFilters(Schema):
    topic: int | None = Field(None, description="Topic id.")
    connection: int | None = Field(None, description="Connection id.")
    metric: str | None = None
    device: str | None = None
    since: datetime | None = Field(None, description="Inclusive; ISO 8601 (no offset means UTC).")
    until: datetime | None = Field(None, description="Exclusive; ISO 8601 (no offset means UTC).")
    limit: int | None = Field(None, ge=1, description=f"Page size (JSON: default {DEFAULT_LIMIT}, max {MAX_LIMIT}).")
    offset: int = Field(0, ge=0)
    format: Literal["json", "csv"] = "json"

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value


class ReadingOut(Out):
    id: int
    connection: int
    topic: int
    topic_name: str
    device: str
    metric: str
    value: float | bool | str | None
    unit: str
    timestamp: datetime = Field(description="Device time when the payload has one, else receive time.")
    received_at: datetime


ReadingPage = page_of(ReadingOut, "ReadingPage")


def _value(row: dict[str, Any]) -> float | bool | str | None:
    if row["value_type"] == ValueType.TEXT:
        return row["text_value"]
    if row["value_type"] == ValueType.BOOLEAN and row["value"] is not None:
        return bool(row["value"])
    return row["value"]


def reading_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": row["id"], "connection": row["connection_id"], "topic": row["topic_id"],
        "topic_name": row["topic__topic"], "device": row["device"], "metric": row["metric"], "value": _value(row),
        "unit": row["unit"],
    }  # fmt: skip
    timestamps.copy_parsed(row, out, TIME_FIELDS)
    return out


def filtered(filters: ReadingFilters, depth: int | None = None) -> QuerySet:
    """The matching readings newest first. `depth`: how many of them the caller reads at most (offset and
    limit), which lets a connection's readings be found through its topics' index (reading_queries.py)."""
    lookups = {"topic": "topic_id", "connection": "connection_id", "metric": "metric", "device": "device",
               "since": "timestamp__gte", "until": "timestamp__lt"}  # fmt: skip
    queryset = TelemetryReading.objects.annotate(**timestamps.as_text(TIME_FIELDS)).order_by("-timestamp", "-id")
    queryset = filter_by(queryset, filters, lookups)
    if filters.connection is not None and filters.topic is None and depth is not None:
        queryset = newest_of_connection(queryset, filters, depth)
    return queryset.values(*VALUE_FIELDS)


@router.get(
    "/readings", response={200: ReadingPage, **ERRORS_READ}, summary="Readings, newest first (format=csv to export)",
    openapi_extra={"responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)  # fmt: skip
def list_readings(request: HttpRequest, filters: Query[ReadingFilters]) -> Any:
    if filters.format == "csv":
        # Every row unless a limit is given: an export without one reads all of them anyway.
        depth = filters.offset + filters.limit if filters.limit else None
        return _csv_response(filtered(filters, depth), filters)
    limit = min(filters.limit or DEFAULT_LIMIT, MAX_LIMIT)
    # paginate() reads one row more than the page, to know whether another follows.
    queryset = filtered(filters, filters.offset + limit + 1)
    return paginate(queryset, limit, filters.offset, reading_out, count=False)


def _csv_response(queryset: QuerySet, filters: ReadingFilters) -> StreamingHttpResponse:
    rows = queryset[filters.offset : filters.offset + filters.limit] if filters.limit else queryset[filters.offset :]
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="readings.csv"'
    return response


class _Echo:
    """A file-like object whose write() returns the line: csv.writer then yields lines one by one."""

    def write(self, value: str) -> str:
        return value


def _safe(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_lines(rows: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        value, times = _value(row), {}
        timestamps.copy_parsed(row, times, TIME_FIELDS)
        yield writer.writerow([
            times["timestamp"].isoformat(), times["received_at"].isoformat(), row["connection_id"],
            _safe(row["topic__topic"]), _safe(row["device"]), _safe(row["metric"]),
            _safe(value) if isinstance(value, str) else ("" if value is None else value), _safe(row["unit"]),
        ])  # fmt: skip
