"""A connection's (or a site's connections') readings, newest first, through their topics' (topic, time) index.

Readings have no (connection, time) index: keeping it cost a third of the database's CPU per message
(models/readings.py). `connection_id = X ORDER BY timestamp DESC LIMIT n` would then read and sort every
reading of the connection. On PostgreSQL the first n are found in two steps instead, each one short index scan
per topic (LATERAL):
1. each topic's newest reading. A topic whose newest is older than the n-th newest of these cannot hold any
   of the first n: the n topics ahead of it each have a reading that is newer than all of its own;
2. the newest n readings of each of the remaining topics (at most n of them, plus ties), of which the first n
   overall are the page.
With a page of 101 rows this answers in tens of milliseconds where reading and sorting every row took
hundreds (figures: docs/benchmarks.md, "API on a large table").
SQLite (development and tests) has no LATERAL, and small tables: the plain filter serves there.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from mqtt_app.models import MqttTopic, TelemetryReading

# The API's filters that a topic's readings are narrowed by inside each topic's scan: (field, SQL condition),
# the same conditions as the ORM lookups of readings.filtered (since inclusive, until exclusive).
CONDITIONS = (
    ("metric", "r.metric = %s"),
    ("device", "r.device = %s"),
    ("since", "r.timestamp >= %s"),
    ("until", "r.timestamp < %s"),
)


def newest_of_connection(queryset: QuerySet, filters: Any, depth: int, connection_ids: list[int]) -> QuerySet:  # noqa: ANN401
    """`queryset` (already narrowed by `filters` and to `connection_ids`) narrowed to the ids that can be
    among its first `depth` rows newest first (timestamp, then id, descending); its own order and slice
    still apply."""
    if connection.vendor != "postgresql":
        return queryset
    where, params = [], []
    for name, condition in CONDITIONS:
        value = getattr(filters, name, None)
        if value is not None and value != "":
            where.append(condition)
            params.append(value)
    readings = connection.ops.quote_name(TelemetryReading._meta.db_table)
    topics = connection.ops.quote_name(MqttTopic._meta.db_table)
    narrowed = "".join(f" AND {condition}" for condition in where)
    sql = (
        # 1. Each topic's newest matching reading, and the depth-th newest of those (none: every topic counts).
        f"WITH newest AS (SELECT t.id, n.timestamp FROM {topics} AS t CROSS JOIN LATERAL ("  # noqa: S608 - our tables
        f"SELECT r.timestamp FROM {readings} AS r WHERE r.topic_id = t.id{narrowed} "
        "ORDER BY r.timestamp DESC LIMIT 1) AS n WHERE t.connection_id = ANY(%s)), "
        "cutoff AS (SELECT timestamp FROM newest ORDER BY timestamp DESC OFFSET %s LIMIT 1) "
        # 2. The newest depth readings of each topic at or past the cutoff; the first depth of them all.
        "SELECT x.id FROM (SELECT r.id FROM newest AS t CROSS JOIN LATERAL ("
        f"SELECT r.id, r.timestamp FROM {readings} AS r WHERE r.topic_id = t.id{narrowed} "
        "ORDER BY r.timestamp DESC, r.id DESC LIMIT %s) AS r "
        "WHERE t.timestamp >= COALESCE((SELECT timestamp FROM cutoff), '-infinity') "
        "ORDER BY r.timestamp DESC, r.id DESC LIMIT %s) AS x"
    )
    values = [*params, list(connection_ids), depth - 1, *params, depth, depth]
    # Every value is a bound parameter; the only text put in is our own table names.
    return queryset.filter(id__in=RawSQL(sql, values))  # noqa: S611
