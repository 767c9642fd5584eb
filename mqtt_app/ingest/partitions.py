"""Readings (and the raw archive) partitioned by arrival time on PostgreSQL: retention drops whole partitions
instead of deleting rows.

The readings table (and the raw archive's the same way: `raw_messages`) is declaratively partitioned by RANGE
(received_at), one partition per MQTT_READING_PARTITION_DAYS (aligned on UTC midnights), named
`<table>_pYYYYMMDD` after the day it starts. Beat's hourly retention task keeps MQTT_READING_PARTITIONS_AHEAD
partitions ready ahead of time; a DEFAULT partition takes any row no partition covers (a missed run, a listener
clock far ahead), so an insert never fails, and the rows it holds are moved into their partition when that
partition is created. An installation that had readings before partitioning keeps them in one partition
(`<table>_legacy`, from MINVALUE to the conversion's cutover), trimmed by chunked deletes until it is old enough
to be dropped whole (migration 0012, docs/history.md).

SQLite keeps a plain table: every function here does nothing there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from mqtt_app.models import RawMessage, TelemetryReading

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The default partition's rows of one range, into the new partition of that range (tables quoted in by _sql).
MOVE_ROWS = "WITH moved AS (DELETE FROM {} WHERE received_at >= %s AND received_at < %s RETURNING *) INSERT INTO {} SELECT * FROM moved"  # noqa: E501, S608
BOUND = re.compile(r"FOR VALUES FROM \((?P<lo>[^)]*)\) TO \((?P<hi>[^)]*)\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: MINVALUE (the legacy partition)
    end: datetime | None  # None: the DEFAULT partition


class Partitioned:
    """One table partitioned by RANGE (received_at), one partition per MQTT_READING_PARTITION_DAYS."""

    def __init__(self, model: type[Model] | str, what: str) -> None:
        self.model = model  # or the name of a table without a model (the compacted readings' blocks)
        self.what = what  # in log lines: "readings", "raw messages"

    def enabled(self) -> bool:
        return connection.vendor == "postgresql" and self.is_partitioned()

    def table(self) -> str:
        return self.model if isinstance(self.model, str) else self.model._meta.db_table

    def is_partitioned(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", [self.table()])
            row = cursor.fetchone()
        return bool(row and row[0])

    def partitions(self) -> list[Partition]:
        """Every partition of the table, oldest first (the DEFAULT one last)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
                [self.table()],
            )
            rows = cursor.fetchall()
        found = []
        for name, bound in rows:
            if bound == "DEFAULT":
                found.append(Partition(name, None, None))
            elif match := BOUND.search(bound):
                found.append(Partition(name, _timestamp(match["lo"]), _timestamp(match["hi"])))
        return sorted(found, key=lambda p: (p.end is None, p.end or EPOCH))

    def default_partition(self) -> str:
        return f"{self.table()}_default"

    def name_for(self, start: datetime) -> str:
        return f"{self.table()}_p{start:%Y%m%d}"

    def ensure(self, now: datetime) -> list[str]:
        """Create the partitions from the one holding `now` to MQTT_READING_PARTITIONS_AHEAD ahead; returns the
        new ones' names. Idempotent, and safe beside ingestion (each creation is one short transaction)."""
        if not self.enabled():
            return []
        existing = self.partitions()
        covered_until = max((p.end for p in existing if p.end is not None), default=None)
        start = boundary_at_or_before(now)
        if covered_until is not None and covered_until > start:
            start = covered_until  # the legacy partition may reach past today
        last = boundary_at_or_before(now) + interval() * (1 + int(settings.MQTT_READING_PARTITIONS_AHEAD))
        created = []
        while start < last:
            created.append(self.create(start, start + interval()))
            start += interval()
        return created

    def create(self, start: datetime, end: datetime) -> str:
        """One partition [start, end), with the rows the DEFAULT partition holds in that range moved into it."""
        name, parent, default = self.name_for(start), self.table(), self.default_partition()
        q = connection.ops.quote_name
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {q(name)} (LIKE {q(parent)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            cursor.execute(_sql(MOVE_ROWS, default, name), [start, end])
            moved = cursor.rowcount
            cursor.execute(
                f"ALTER TABLE {q(parent)} ATTACH PARTITION {q(name)} FOR VALUES FROM (%s) TO (%s)", [start, end]
            )
        logger.info(
            "%s partition %s created%s", self.what, name, f" ({moved} rows moved from the default)" if moved else ""
        )
        return name

    def drop_expired(self, cutoff: datetime) -> tuple[list[str], int]:
        """Detach and drop every partition whose rows are all older than `cutoff`; returns their names and how
        many rows they held (from the planner's statistics: counting would read them)."""
        if not self.enabled():
            return [], 0
        q = connection.ops.quote_name
        dropped, rows = [], 0
        for partition in self.partitions():
            if partition.end is None or partition.end > cutoff:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", [partition.name]
                )
                rows += cursor.fetchone()[0]
                cursor.execute(f"ALTER TABLE {q(self.table())} DETACH PARTITION {q(partition.name)}")
                cursor.execute(f"DROP TABLE {q(partition.name)}")
            dropped.append(partition.name)
        if dropped:
            logger.info("retention dropped %s partitions %s (about %d rows)", self.what, ", ".join(dropped), rows)
        return dropped, rows

    def oldest_start(self) -> datetime | None:
        """Where the dated partitions begin: older rows live in the legacy (or default) partition only."""
        starts = [p.start for p in self.partitions() if p.start is not None]
        return min(starts) if starts else None


def interval() -> timedelta:
    return timedelta(days=int(settings.MQTT_READING_PARTITION_DAYS))


def boundary_at_or_before(moment: datetime) -> datetime:
    """The start of the partition that holds `moment` (boundaries every interval from the epoch, UTC)."""
    step = interval()
    return EPOCH + step * ((moment - EPOCH) // step)


def _timestamp(literal: str) -> datetime | None:
    literal = literal.strip().strip("'")
    if literal.upper() == "MINVALUE":
        return None
    return datetime.fromisoformat(literal).astimezone(UTC)


def _sql(template: str, *tables: str) -> str:
    """`template` with these table names quoted in (names of this module's own tables, never user input)."""
    return template.format(*(connection.ops.quote_name(name) for name in tables))  # noqa: S608


readings = Partitioned(TelemetryReading, "readings")
raw_messages = Partitioned(RawMessage, "raw messages")  # the raw archive (ingest/archive.py)

# The readings' table, as module functions (retention, mqtt_setup, the benchmarks).
enabled, table, is_partitioned, partitions = (
    readings.enabled,
    readings.table,
    readings.is_partitioned,
    readings.partitions,
)
default_partition, name_for, ensure, create = (
    readings.default_partition,
    readings.name_for,
    readings.ensure,
    readings.create,
)
drop_expired, oldest_start = readings.drop_expired, readings.oldest_start
