"""Compaction: a closed partition of readings becomes blocks of arrays, about a seventh of the bytes (PostgreSQL).

A reading row repeats its device, metric and unit as strings and pays a row header and index entries: about
190 bytes. Once its partition is closed (no longer written to but by late arrivals, MQTT_READING_COMPACT_AFTER_DAYS
after its end), its rows are moved into `mqtt_reading_block`: one row per series (ReadingSeries: topic, device,
metric, unit, value type) and up to BLOCK_SIZE readings, their ids, device times, arrival times and values in
arrays, in device-time order. Arrays that long are stored compressed (TOAST).

The move is one statement (DELETE ... RETURNING feeding the INSERT), so a row is either still a reading or in a
block, never both nor neither, whatever commits meanwhile: a late row that lands in a compacted partition stays a
reading until the next pass. Every read of readings reads both forms (history/stored.py). Blocks are partitioned
by arrival day like the readings, so retention drops both whole. A re-parse first moves the blocks of its topic
and time back into readings (`expand`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction

from mqtt_app.ingest import partitions
from mqtt_app.models import MqttTopic, ReadingSeries, RollupState, TelemetryReading

logger = logging.getLogger(__name__)

TABLE = "mqtt_reading_block"
# Readings per block at most: a busy series' day is several blocks, so a read of its newest rows unpacks one.
BLOCK_SIZE = 4096
blocks = partitions.Partitioned(TABLE, "compacted readings")
LOCK_TIMEOUT = "2s"
SERIES_TABLE, TOPICS_TABLE = ReadingSeries._meta.db_table, MqttTopic._meta.db_table

SERIES = """
INSERT INTO {series} (topic_id, device, metric, unit, value_type)
SELECT DISTINCT r.topic_id, r.device, r.metric, r.unit, r.value_type FROM {part} AS r
WHERE EXISTS (SELECT 1 FROM {topics} AS t WHERE t.id = r.topic_id)
ON CONFLICT (topic_id, device, metric, unit, value_type) DO NOTHING
"""
# Only rows whose series exists move: one committed after the series were written waits for the next pass.
MOVE = """
WITH moved AS (
    DELETE FROM {part} AS r USING {series} AS s
    WHERE s.topic_id = r.topic_id AND s.device = r.device AND s.metric = r.metric AND s.unit = r.unit
      AND s.value_type = r.value_type
    RETURNING s.id AS series_id, s.value_type, r.id, r."timestamp", r.received_at, r.value, r.text_value
), numbered AS (
    SELECT *, (row_number() OVER (PARTITION BY series_id ORDER BY "timestamp", id) - 1) / {size} AS part FROM moved
)
INSERT INTO {blocks} (series_id, received_at, first_at, last_at, count, ids, times, arrivals, numbers, texts)
SELECT series_id, min(received_at), min("timestamp"), max("timestamp"), count(*),
       array_agg(id ORDER BY "timestamp", id), array_agg("timestamp" ORDER BY "timestamp", id),
       array_agg(received_at ORDER BY "timestamp", id),
       CASE WHEN min(value_type) <> 'text' THEN array_agg(value ORDER BY "timestamp", id) END,
       CASE WHEN min(value_type) = 'text' THEN array_agg(text_value ORDER BY "timestamp", id) END
FROM numbered GROUP BY series_id, part
RETURNING count
"""
# A block back into reading rows (a re-parse replaces some of them); the partition takes them by arrival time.
EXPAND = """
WITH gone AS (DELETE FROM {blocks} AS b USING {series} AS s WHERE s.id = b.series_id AND s.topic_id = %s
                AND b.received_at >= %s AND b.received_at < %s RETURNING b.*, s.topic_id, s.device, s.metric,
                s.unit, s.value_type)
INSERT INTO {readings} (id, connection_id, topic_id, device, metric, value_type, value, text_value, unit,
                        "timestamp", received_at)
SELECT u.id, t.connection_id, g.topic_id, g.device, g.metric, g.value_type, u.value, coalesce(u.text, ''), g.unit,
       u.at, u.arrived
FROM gone AS g JOIN {topics} AS t ON t.id = g.topic_id
CROSS JOIN LATERAL unnest(g.ids, g.times, g.arrivals, g.numbers, g.texts) AS u(id, at, arrived, value, text)
"""


@dataclass(frozen=True)
class Compacted:
    partition: str
    readings: int
    blocks: int


@cache
def _table_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [TABLE])
        return bool(cursor.fetchone()[0])


def enabled() -> bool:
    """Blocks exist only on PostgreSQL with partitioned readings (SQLite keeps every reading a row)."""
    return connection.vendor == "postgresql" and partitions.enabled() and _table_exists()


def cutoff(now: datetime) -> datetime:
    """Partitions ending before this are compacted."""
    return now - timedelta(days=int(settings.MQTT_READING_COMPACT_AFTER_DAYS))


def compact(now: datetime) -> list[Compacted]:
    """Compact every closed partition that holds reading rows; a pass over already compacted ones is cheap
    (an empty partition has nothing to move). Not before the first roll-up: it reads reading rows only."""
    if not enabled() or settings.MQTT_READING_COMPACT_AFTER_DAYS <= 0:
        return []
    if not RollupState.objects.filter(marker__isnull=False).exists():
        return []
    done = []
    for partition in partitions.partitions():
        if partition.start is None or partition.end is None or partition.end > cutoff(now):
            continue  # the legacy and default partitions, and open ones
        if not _has_rows(partition.name):
            continue
        done.append(compact_partition(partition))
    return done


def compact_partition(partition: partitions.Partition) -> Compacted:
    q = connection.ops.quote_name
    names = {"part": q(partition.name), "series": q(SERIES_TABLE), "blocks": q(TABLE),
             "topics": q(TOPICS_TABLE), "size": BLOCK_SIZE}  # fmt: skip
    existing = {p.name for p in blocks.partitions()}
    if partition.start is not None and partition.end is not None and blocks.name_for(partition.start) not in existing:
        blocks.create(partition.start, partition.end)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SERIES.format(**names))
        cursor.execute(MOVE.format(**names))
        counts = [row[0] for row in cursor.fetchall()]
        emptied = _truncate_if_empty(cursor, q(partition.name))
    made, readings = len(counts), sum(counts)
    if not emptied and not connection.in_atomic_block:  # VACUUM cannot run in a transaction (tests run in one)
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {q(partition.name)}")  # gives the emptied heap pages back at once
    logger.info("compacted readings partition %s: %d readings into %d blocks", partition.name, readings, made)
    return Compacted(partition.name, readings, made)


def expand(topic_id: int, since: datetime, until: datetime) -> int:
    """Move the blocks of this topic whose readings arrived in [since, until] back into reading rows, in the
    caller's transaction. Blocks are found by their first arrival, so those of the partition before count too."""
    if not enabled():
        return 0
    q = connection.ops.quote_name
    names = {"series": q(SERIES_TABLE), "blocks": q(TABLE), "topics": q(TOPICS_TABLE),
             "readings": q(TelemetryReading._meta.db_table)}  # fmt: skip
    lo = partitions.boundary_at_or_before(since)
    with connection.cursor() as cursor:
        cursor.execute(EXPAND.format(**names), [topic_id, lo, until + timedelta(microseconds=1)])
        return max(cursor.rowcount, 0)


def _truncate_if_empty(cursor: Any, table: str) -> bool:  # noqa: ANN401
    """Truncate the emptied partition (a VACUUM would keep its indexes' pages): under its exclusive lock, taken
    within LOCK_TIMEOUT or not at all (readers and late writers wait behind it), and only if no row committed
    meanwhile, which would then stay for the next pass."""
    try:
        with transaction.atomic():
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608
            if cursor.fetchone()[0]:
                return False
            cursor.execute(f"TRUNCATE {table}")
            return True
    except OperationalError:  # the lock timed out: the rows are moved all the same
        logger.info("compaction: %s is busy; its emptied pages wait for a vacuum", table)
        return False


def _has_rows(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
        return bool(cursor.fetchone()[0])
