"""Readings in compacted blocks (history/compaction.py), read as reading rows: newest first, or per time bucket.

Each function answers only the blocks' part; its callers merge it with the reading rows (the API's pages and
exports, the series' raw path, the threshold alerts). Without blocks (SQLite, or nothing compacted yet) every
function answers nothing.

Newest first: blocks are read in order of their newest reading (`last_at`, indexed per series), a few at a time,
and their rows unpacked in SQL. Rows newer than the `last_at` of the last block read cannot be preceded by a row
of a block not read yet, so they are final; the rest wait for the next blocks. Memory holds the rows of the
blocks that overlap in time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db import connection

from mqtt_app.api import timestamps

from .compaction import SERIES_TABLE, TABLE, TOPICS_TABLE, enabled

FIRST_BATCH, MAX_BATCH = 2, 64
# The API's reading rows (api/readings.py reads reading rows as these values too).
ROW_FIELDS = ("id", "connection_id", "topic_id", "topic__topic", "device", "metric", "value_type", "value",
              "text_value", "unit", *timestamps.text_names(("timestamp", "received_at")))  # fmt: skip
ROWS = f"""
SELECT u.id, t.connection_id, s.topic_id, t.topic, s.device, s.metric, s.value_type, u.value, coalesce(u.text, ''),
       s.unit, u.at::text, u.arrived::text, u.at
FROM {TABLE} AS b JOIN {SERIES_TABLE} AS s ON s.id = b.series_id JOIN {TOPICS_TABLE} AS t ON t.id = s.topic_id
CROSS JOIN LATERAL unnest(b.ids, b.times, b.arrivals, b.numbers, b.texts) AS u(id, at, arrived, value, text)
WHERE b.series_id = ANY(%s) AND b.id = ANY(%s) AND b.last_at >= %s AND b.last_at <= %s{{times}}
"""  # noqa: S608 - our table names only
BUCKETS = f"""
SELECT floor(extract(epoch FROM u.at) / %s)::bigint AS k, min(u.value), max(u.value), sum(u.value), count(*)
FROM {TABLE} AS b CROSS JOIN LATERAL unnest(b.times, b.numbers) AS u(at, value)
WHERE b.series_id = ANY(%s) AND b.last_at >= %s AND b.first_at < %s AND u.at >= %s AND u.at < %s
  AND u.value IS NOT NULL
GROUP BY k
"""  # noqa: S608


def series_of(topic_ids: Iterable[int], metric: str | None = None, device: str | None = None,
              value_type: str | None = None) -> list[int]:  # fmt: skip
    """The ids of the series of these topics (and metric, device, value type where given) that have blocks."""
    if not enabled():
        return []
    where, params = ["topic_id = ANY(%s)"], list[Any]([list(topic_ids)])
    for column, value in (("metric", metric), ("device", device), ("value_type", value_type)):
        if value is not None and value != "":
            where.append(f"{column} = %s")
            params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {SERIES_TABLE} WHERE {' AND '.join(where)}", params)  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def newest_first(series: list[int], since: datetime | None = None, until: datetime | None = None,
                 limit: int | None = None) -> Iterator[dict]:  # fmt: skip
    """The blocks' readings of these series, newest first (device time, then id), as the API's reading rows;
    `since` inclusive, `until` exclusive, on device time; the first `limit` of them."""
    if not series:
        return
    pending: list[tuple[tuple[datetime, int], dict[str, Any]]] = []  # newest first
    after: tuple[datetime, int] | None = None
    batch, left = min(max(FIRST_BATCH, len(series)), MAX_BATCH), limit
    while left is None or left > 0:
        picked = _blocks(series, since, until, after, batch)
        if not picked:
            break
        after = (picked[-1][1], picked[-1][0])
        # Two runs sorted alike: the sort merges them. Past `left`, a row can never be among the first `limit`.
        pending = sorted(pending + _rows(series, picked, since, until, left), key=_key, reverse=True)[:left]
        final = picked[-1][1]  # no block not read yet holds a reading newer than this
        done = 0
        while done < len(pending) and pending[done][0][0] > final:
            done += 1
        yield from (row for _, row in pending[:done])
        pending = pending[done:]
        left = None if left is None else left - done
        batch = min(batch * 2, MAX_BATCH)
    yield from (row for _, row in pending[:left])


def _key(entry: tuple[tuple[datetime, int], dict[str, Any]]) -> tuple[datetime, int]:
    return entry[0]


def _blocks(series: list[int], since: datetime | None, until: datetime | None, after: tuple[datetime, int] | None,
            limit: int) -> list[tuple[int, datetime]]:  # fmt: skip
    """The next `limit` blocks (id, last_at) in order of their newest reading, after `after`."""
    where, params = ["series_id = ANY(%s)"], list[Any]([series])
    if since is not None:
        where.append("last_at >= %s")
        params.append(since)
    if until is not None:
        where.append("first_at < %s")
        params.append(until)
    if after is not None:
        where.append("(last_at, id) < (%s, %s)")
        params.extend(after)
    sql = f"SELECT id, last_at FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY last_at DESC, id DESC LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def _rows(series: list[int], picked: list[tuple[int, datetime]], since: datetime | None, until: datetime | None,
          limit: int | None) -> list[tuple[tuple[datetime, int], dict[str, Any]]]:  # fmt: skip
    """The picked blocks' readings in range, newest first, the first `limit` of them."""
    times, params = "", list[Any]([series, [block for block, _ in picked], picked[-1][1], picked[0][1]])
    if since is not None:
        times += " AND u.at >= %s"
        params.append(since)
    if until is not None:
        times += " AND u.at < %s"
        params.append(until)
    order = " ORDER BY u.at DESC, u.id DESC" + (" LIMIT %s" if limit is not None else "")
    with connection.cursor() as cursor:
        cursor.execute(ROWS.replace("{times}", times) + order, params + ([limit] if limit is not None else []))
        found = cursor.fetchall()
    return [((row[12], row[0]), dict(zip(ROW_FIELDS, row[:12], strict=True))) for row in found]


def buckets(
    series: list[int], since: datetime, until: datetime, width: int
) -> dict[int, tuple[float, float, float, int]]:  # noqa: E501
    """{bucket number: (min, max, sum, count)} of the blocks' numeric readings in [since, until), buckets of
    `width` seconds since the epoch."""
    if not series:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(BUCKETS, [width, series, since, until, since, until])
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in cursor.fetchall()}


def merged(rows: Iterable[dict], compacted: Iterable[dict]) -> Iterator[dict]:
    """Reading rows and compacted ones, each newest first, as one stream newest first."""
    return heapq.merge(rows, compacted, key=_order, reverse=True)


def _order(row: dict[str, Any]) -> tuple[datetime | None, int]:
    return timestamps.parse(row["timestamp_text"]), row["id"]
