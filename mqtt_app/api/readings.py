"""`GET /api/readings?topic=|connection=|site=&metric=&since=&until=&limit=`: newest first; `format=csv` streams.

The table is the biggest in the database, so every read is bounded: a topic, connection or site filter is
required (422 otherwise: newest-first over every reading sorted the whole table, 13 s on 43 million rows), JSON
pages are not counted and stop at offset MAX_OFFSET (page further back with `until` = the last timestamp seen),
and CSV streams at most MQTT_EXPORT_MAX_ROWS rows without loading them at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any, Literal

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.history import stored
from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading, ValueType

from . import auth, timestamps
from .auth import ApiRequest
from .errors import ApiError
from .pagination import DEFAULT_LIMIT, MAX_LIMIT, filter_by, page_of, paginate
from .reading_queries import newest_of_connection
from .schemas import ERRORS_READ, Out

router = Router(tags=["readings"], auth=auth.readers())
CSV_COLUMNS = ["timestamp", "received_at", "connection", "topic", "device", "metric", "value", "unit"]
TIME_FIELDS = ("timestamp", "received_at")
VALUE_FIELDS = stored.ROW_FIELDS  # reading rows and compacted ones alike (history/stored.py)
# Spreadsheets run cells starting with these as formulas (CSV injection): such text cells get a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows skipped at most: an offset is read and thrown away, so a deep one costs as much as a page that long.
MAX_OFFSET = 10_000


class ReadingFilters(Schema):
    topic: int | None = Field(None, description="Topic id (a topic, connection or site is required).")
    connection: int | None = Field(None, description="Connection id.")
    site: int | None = Field(None, description="Site id: the readings of all its connections.")
    metric: str | None = None
    device: str | None = None
    since: timestamps.QueryTime = Field(None, description="Inclusive; ISO 8601 (no offset means UTC).")
    until: timestamps.QueryTime = Field(None, description="Exclusive; ISO 8601 (no offset means UTC).")
    limit: int | None = Field(
        None, ge=1, description=f"Page size (JSON: default {DEFAULT_LIMIT}, max {MAX_LIMIT}; CSV: the export cap)."
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Rows to skip; deeper history: narrow with `until`.")
    format: Literal["json", "csv"] = "json"


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


def filtered(filters: ReadingFilters, connections: list[int] | None, depth: int | None = None) -> QuerySet:
    """The matching reading rows newest first. `depth`: how many of them the caller reads at most (offset and
    limit), which lets a connection's readings be found through its topics' index (reading_queries.py)."""
    lookups = {"topic": "topic_id", "connection": "connection_id", "metric": "metric", "device": "device",
               "since": "timestamp__gte", "until": "timestamp__lt"}  # fmt: skip
    queryset = TelemetryReading.objects.annotate(**timestamps.as_text(TIME_FIELDS)).order_by("-timestamp", "-id")
    queryset = filter_by(queryset, filters, lookups)
    if connections is not None:
        queryset = queryset.filter(connection_id__in=connections)
    if connections is not None and filters.topic is None and depth is not None:
        queryset = newest_of_connection(queryset, filters, depth, connections)
    return queryset.values(*VALUE_FIELDS)


def _connections(filters: ReadingFilters) -> list[int] | None:
    connections = [filters.connection] if filters.connection is not None else None
    if filters.site is not None:
        site_connections = MqttConnection.objects.filter(site_id=filters.site).values_list("pk", flat=True)
        connections = [pk for pk in site_connections if connections is None or pk in connections]
    return connections


def matching(filters: ReadingFilters, depth: int) -> Iterator[dict[str, Any]]:
    """The first `depth` matching readings newest first, reading rows and compacted ones (history/stored.py)."""
    connections = _connections(filters)
    rows = filtered(filters, connections, depth)[:depth].iterator(chunk_size=2000)
    topics = MqttTopic.objects.all()
    if filters.topic is not None:
        topics = topics.filter(pk=filters.topic)
    if connections is not None:
        topics = topics.filter(connection_id__in=connections)
    series = stored.series_of(topics.values_list("pk", flat=True), filters.metric, filters.device)
    if not series:
        return rows
    return islice(stored.merged(rows, stored.newest_first(series, filters.since, filters.until, depth)), depth)


def _require_scope(user: Any, filters: ReadingFilters) -> None:  # noqa: ANN401
    """A topic, connection or site is required, and each one given must be the caller's to see (else 404):
    a reading is only ever reached through one of them."""
    if filters.topic is None and filters.connection is None and filters.site is None:
        message = "give a topic, connection or site: readings are only listed within one of them"
        raise ApiError(422, f"Invalid input. {message}", [{"field": "topic", "message": message}])
    for model, pk, what in ((MqttTopic, filters.topic, "topic"), (MqttConnection, filters.connection, "connection"),
                            (Site, filters.site, "site")):  # fmt: skip
        if pk is not None:
            access.require(user, model.objects.filter(pk=pk).first(), access.VIEWER, what)


@router.get(
    "/readings", response={200: ReadingPage, **ERRORS_READ}, summary="Readings, newest first (format=csv to export)",
    openapi_extra={"responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)  # fmt: skip
def list_readings(request: ApiRequest, filters: Query[ReadingFilters]) -> Any:
    _require_scope(request.auth, filters)
    if filters.format == "csv":
        cap = settings.MQTT_EXPORT_MAX_ROWS
        if filters.limit is not None and filters.limit > cap:
            message = f"an export holds at most {cap} rows (MQTT_EXPORT_MAX_ROWS); narrow it with since/until"
            raise ApiError(422, f"Invalid limit: {message}", [{"field": "limit", "message": message}])
        limit = filters.limit or cap
        return _csv_response(islice(matching(filters, filters.offset + limit), filters.offset, None))
    limit = min(filters.limit or DEFAULT_LIMIT, MAX_LIMIT)
    # paginate() reads one row more than the page, to know whether another follows.
    rows = list(matching(filters, filters.offset + limit + 1))
    return paginate(rows, limit, filters.offset, reading_out, count=False)


def _csv_response(rows: Iterator[dict[str, Any]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="readings.csv"'
    return response


class _Echo:
    """A file-like object whose write() returns the line: csv.writer then yields lines one by one."""

    def write(self, value: str) -> str:
        return value


def _safe(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        value, times = _value(row), dict[str, Any]()
        timestamps.copy_parsed(row, times, TIME_FIELDS)
        yield writer.writerow([
            times["timestamp"].isoformat(), times["received_at"].isoformat(), row["connection_id"],
            _safe(row["topic__topic"]), _safe(row["device"]), _safe(row["metric"]),
            _safe(value) if isinstance(value, str) else ("" if value is None else value), _safe(row["unit"]),
        ])  # fmt: skip
