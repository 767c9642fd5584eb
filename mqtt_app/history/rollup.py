"""The roll-up: per-minute and per-hour min, max, sum and count of numeric readings per (topic, metric).

A beat task (tasks.housekeeping.roll_up) runs `roll_up()` every MQTT_ROLLUP_INTERVAL seconds, one run at a time
(a row lock; a run that finds it taken returns at once). Each run finds the readings it has not seen (changes.py) and:
- buckets that are still open (device time within the raw retention, less a day) are recomputed from the raw
  readings and replaced, so running it twice, or on rows it saw before, changes nothing;
- buckets that are closed (older: retention may have deleted some of their raw rows) are never recomputed:
  a reading that arrives that late is added to them, once (RolledLateReading remembers it);
- hours are recomputed from their minutes while open, added to like minutes once closed.
The first run (no state yet) builds every bucket from the raw readings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone

from mqtt_app.models import RolledLateReading, RollupState, SeriesRollup
from mqtt_app.models.rollups import HOUR, MINUTE

from .changes import current_marker, numeric, unseen

logger = logging.getLogger(__name__)

Key = tuple[int, str, datetime]  # (topic id, metric, bucket start)
# Dirty buckets further apart than this are recomputed by separate statements.
CLUSTER_GAP = timedelta(hours=1)
# The first run aggregates the table this much arrival time at a time (a partition's worth, by default).
FIRST_RUN_CHUNK = timedelta(days=1)
BUILD_MINUTES, BUILD_HOURS = "mqtt_rollup_build_minutes", "mqtt_rollup_build_hours"
LATE = "mqtt_rollup_late"  # a run's late readings (temporary)
BUILD_COLUMNS = (
    "topic_id bigint NOT NULL, metric varchar(255) NOT NULL, start timestamp with time zone NOT NULL, "
    "min double precision, max double precision, sum double precision, count bigint, "
    "PRIMARY KEY (topic_id, metric, start)"
)


def open_since(now: datetime) -> datetime:
    """Buckets starting at or after this are recomputed from reading rows; older ones are closed. A bucket is
    closed once retention may have deleted, or compaction moved, some of its rows (device time taken to be at
    most a day ahead of arrival)."""
    days = min(settings.MQTT_READING_RETENTION_DAYS, settings.MQTT_ROLLUP_MINUTE_RETENTION_DAYS)
    span = max(timedelta(days=days) - timedelta(days=1), timedelta(days=days) / 2)
    from .compaction import enabled  # compaction imports the models this module's callers load first

    if enabled():
        span = min(span, timedelta(days=settings.MQTT_READING_COMPACT_AFTER_DAYS) - timedelta(days=1))
    return now - span


def remember_margin() -> timedelta:
    """Rows counted by a replace are remembered when their bucket may close before a run can read them again:
    a run re-reads rows received within the look-back, so a bucket closer than that to the horizon."""
    return timedelta(seconds=settings.MQTT_ROLLUP_LOOKBACK_SECONDS) + timedelta(hours=1)


def roll_up(now: datetime | None = None) -> dict[str, int]:
    """One run; returns what it did (buckets replaced, late readings added)."""
    now = now or timezone.now()
    RollupState.objects.get_or_create(pk=1)
    with transaction.atomic():
        # A run in progress (the first one reads the whole table) is not waited for: this worker has other
        # work, and the next run reads everything this one would have.
        state = RollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if state is None:
            logger.info("roll-up: another run is in progress; skipped")
            return {"minutes": 0, "hours": 0, "late": 0, "skipped": 1}
        marker = current_marker()
        first = state.marker is None
        floor = now - timedelta(seconds=settings.MQTT_ROLLUP_LOOKBACK_SECONDS)
        horizon = datetime.min.replace(tzinfo=UTC) if first else open_since(now)
        rows = unseen(state.marker, marker, floor)
        if first:
            minutes, hours = _build_everything(rows)
        else:
            dirty = _dirty_minutes(rows.filter(timestamp__gte=horizon))
            minutes = replace_minutes(dirty)
            hours = replace_hours({(t, m, _hour(s)) for t, m, s in dirty})
        late = 0 if first else _add_late(rows.filter(timestamp__lt=horizon))
        _remember(rows.filter(received_at__gte=floor, timestamp__lt=open_since(now) + remember_margin()))
        RolledLateReading.objects.filter(received_at__lt=floor).delete()
        state.marker, state.ran_at = marker, now
        state.save(update_fields=["marker", "ran_at"])
    result = {"minutes": minutes, "hours": hours, "late": late, "skipped": 0}
    logger.debug("roll-up: %s", result)
    return result


def _build_everything(rows: QuerySet) -> tuple[int, int]:
    """The first run: every bucket that has raw readings, set-based. Each FIRST_RUN_CHUNK of arrival time is
    aggregated per minute in SQL and merged (min, max, sum, count) into a temporary table, whose minutes then
    replace the stored ones, and whose hours are built from them. Buckets without raw readings (older than the
    raw retention) are kept. A Python set of dirty minutes took 24 GB on 100 million readings; a statement per
    hour of arrivals, 19 µs a reading."""
    bounds = rows.aggregate(lo=Min("received_at"), hi=Max("received_at"))
    if bounds["lo"] is None:
        return 0, 0
    start, last = _hour(_aware(bounds["lo"])), _aware(bounds["hi"])
    with connection.cursor() as cursor:
        for name in (BUILD_MINUTES, BUILD_HOURS):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(f"CREATE TEMPORARY TABLE {name} ({BUILD_COLUMNS})")
        while start <= last:
            stop = start + FIRST_RUN_CHUNK
            chunk = rows.filter(received_at__gte=start, received_at__lt=stop)
            groups = chunk.annotate(b=TruncMinute("timestamp", tzinfo=UTC)).values("topic_id", "metric", "b")
            aggregates = groups.annotate(lo=Min("value"), hi=Max("value"), total=Sum("value"), n=Count("id"))
            select, params = aggregates.order_by().query.sql_with_params()
            # WHERE true: SQLite would read ON CONFLICT as a join constraint of the SELECT.
            cursor.execute(
                f"INSERT INTO {BUILD_MINUTES} SELECT a.topic_id, a.metric, a.b, a.lo, a.hi, a.total, a.n "  # noqa: S608
                f"FROM ({select}) AS a WHERE true ON CONFLICT (topic_id, metric, start) DO UPDATE SET "
                f"{_merged(BUILD_MINUTES)}",
                params,
            )
            start = stop
        hour = _truncated("start", "hour")
        cursor.execute(
            f"INSERT INTO {BUILD_HOURS} SELECT topic_id, metric, {hour}, min(min), max(max), sum(sum), sum(count) "  # noqa: S608
            f"FROM {BUILD_MINUTES} GROUP BY topic_id, metric, {hour}"
        )
        written = [_replace_from(cursor, name, width) for name, width in ((BUILD_MINUTES, MINUTE), (BUILD_HOURS, HOUR))]
        for name in (BUILD_MINUTES, BUILD_HOURS):
            cursor.execute(f"DROP TABLE {name}")
    return written[0], written[1]


def _replace_from(cursor: Any, source: str, width: int) -> int:  # noqa: ANN401
    """The stored buckets of this width replaced by the temporary table's."""
    table = connection.ops.quote_name(SeriesRollup._meta.db_table)
    cursor.execute(
        f"DELETE FROM {table} WHERE width = %s AND EXISTS (SELECT 1 FROM {source} AS s WHERE "  # noqa: S608
        f"s.topic_id = {table}.topic_id AND s.metric = {table}.metric AND s.start = {table}.start)",
        [width],
    )
    cursor.execute(
        f"INSERT INTO {table} (topic_id, metric, width, start, min, max, sum, count) "  # noqa: S608
        f"SELECT topic_id, metric, %s, start, min, max, sum, count FROM {source}",
        [width],
    )
    return max(cursor.rowcount, 0)


def rebuild(keys: set[Key], now: datetime | None = None) -> int:
    """Recompute the open buckets of these keys from the raw readings, in the caller's transaction: a re-parse
    replaced readings whose arrival time is older than any run looks back. Under the run's lock, so a run cannot
    write a bucket from a snapshot without these rows after this."""
    now = now or timezone.now()
    RollupState.objects.get_or_create(pk=1)
    RollupState.objects.select_for_update().filter(pk=1).first()
    horizon = open_since(now)
    dirty = {key for key in keys if key[2] >= horizon}
    return replace_minutes(dirty) + replace_hours({(t, m, _hour(s)) for t, m, s in dirty})


def minute_of(at: datetime) -> datetime:
    return _aware(at).replace(second=0, microsecond=0)


def _hour(start: datetime) -> datetime:
    return start.replace(minute=0, second=0, microsecond=0)


def _dirty_minutes(rows: QuerySet) -> set[Key]:
    minute = TruncMinute("timestamp", tzinfo=UTC)
    return {(t, m, _aware(s)) for t, m, s in rows.annotate(b=minute).values_list("topic_id", "metric", "b").distinct()}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clusters(keys: Iterable[Key], width: int) -> list[tuple[datetime, datetime, set[int]]]:
    """Dirty buckets as a few time ranges [start, end) with the topics dirty in each."""
    found: list[tuple[datetime, datetime, set[int]]] = []
    for topic, _metric, start in sorted(keys, key=lambda k: k[2]):
        end = start + timedelta(seconds=width)
        if found and start - found[-1][1] <= CLUSTER_GAP:
            first, _, topics = found[-1]
            found[-1] = (first, max(end, found[-1][1]), topics | {topic})
        else:
            found.append((start, end, {topic}))
    return found


def replace_minutes(dirty: set[Key]) -> int:
    written = 0
    for start, end, topics in clusters(dirty, MINUTE):
        raw = numeric().filter(topic_id__in=topics, timestamp__gte=start, timestamp__lt=end)
        groups = raw.annotate(b=TruncMinute("timestamp", tzinfo=UTC)).values("topic_id", "metric", "b")
        aggregates = groups.annotate(lo=Min("value"), hi=Max("value"), total=Sum("value"), n=Count("id"))
        written += _replace(MINUTE, start, end, topics, aggregates)
    return written


def replace_hours(dirty: set[Key]) -> int:
    written = 0
    for start, end, topics in clusters(dirty, HOUR):
        minutes = SeriesRollup.objects.filter(width=MINUTE, topic_id__in=topics, start__gte=start, start__lt=end)
        groups = minutes.annotate(b=TruncHour("start", tzinfo=UTC)).values("topic_id", "metric", "b")
        aggregates = groups.annotate(lo=Min("min"), hi=Max("max"), total=Sum("sum"), n=Sum("count"))
        written += _replace(HOUR, start, end, topics, aggregates)
    return written


def _replace(width: int, start: datetime, end: datetime, topics: set[int], aggregates: QuerySet) -> int:
    """Delete the buckets of `topics` in [start, end) and insert `aggregates` in one INSERT ... SELECT: the
    first run writes every bucket of the table, which through Python objects cost ~50 µs a row."""
    SeriesRollup.objects.filter(width=width, topic_id__in=topics, start__gte=start, start__lt=end).delete()
    select, params = aggregates.order_by().query.sql_with_params()
    table = connection.ops.quote_name(SeriesRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (topic_id, metric, width, start, min, max, sum, count) "  # noqa: S608 - our SQL
            f"SELECT a.topic_id, a.metric, %s, a.b, a.lo, a.hi, a.total, a.n FROM ({select}) AS a",
            [width, *params],
        )
        return max(cursor.rowcount, 0)


def _add_late(rows: QuerySet) -> int:
    """Add readings of closed buckets not added before into their minute and hour, and remember them: set-based,
    from one snapshot of them in a temporary table (a spool replayed after days away brings millions)."""
    late = rows.exclude(id__in=RolledLateReading.objects.values("reading_id"))
    late = late.values("id", "topic_id", "metric", "timestamp", "value", "received_at")
    select, params = late.query.sql_with_params()
    rollups = connection.ops.quote_name(SeriesRollup._meta.db_table)
    remembered = connection.ops.quote_name(RolledLateReading._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LATE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {LATE} AS {select}", params)
        cursor.execute(f"SELECT count(*) FROM {LATE}")  # noqa: S608 - our table
        added = int(cursor.fetchone()[0])
        for width, unit in ((MINUTE, "minute"), (HOUR, "hour")):
            start = _truncated('"timestamp"', unit)
            # WHERE true: SQLite would read ON CONFLICT as a join constraint of the SELECT.
            cursor.execute(
                f"INSERT INTO {rollups} (topic_id, metric, width, start, min, max, sum, count) "  # noqa: S608
                f"SELECT topic_id, metric, %s, {start}, min(value), max(value), sum(value), count(*) FROM {LATE} "
                f"WHERE true GROUP BY topic_id, metric, {start} ON CONFLICT (topic_id, metric, width, start) "
                f"DO UPDATE SET {_merged(rollups)}",
                [width],
            )
        cursor.execute(
            f"INSERT INTO {remembered} (reading_id, received_at) SELECT id, received_at FROM {LATE} WHERE true "  # noqa: S608
            "ON CONFLICT DO NOTHING"
        )
        cursor.execute(f"DROP TABLE {LATE}")
    return added


def _truncated(column: str, unit: str) -> str:
    """A time column truncated to the minute or hour, as each database stores the rollups' starts."""
    if connection.vendor == "postgresql":
        return f"date_trunc('{unit}', {column})"
    return f"strftime('%Y-%m-%d %H:{'%M' if unit == 'minute' else '00'}:00', {column})"  # Django's text times


def _merged(table: str) -> str:
    """An upsert's SET: the stored bucket and the new aggregates (`excluded`) combined."""
    lo, hi = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    return (f"min = {lo}({table}.min, excluded.min), max = {hi}({table}.max, excluded.max), "
            f"sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count")  # fmt: skip


def _remember(rows: QuerySet) -> None:
    """Readings this run counted whose bucket is closed or about to close (see remember_margin)."""
    seen = rows.values_list("id", "received_at")
    RolledLateReading.objects.bulk_create(
        [RolledLateReading(reading_id=pk, received_at=at) for pk, at in seen], ignore_conflicts=True
    )


def trim(now: datetime, chunk: int) -> int:
    """Rollup retention: minutes and hours older than their own settings, in chunks."""
    deleted = 0
    for width, days in ((MINUTE, settings.MQTT_ROLLUP_MINUTE_RETENTION_DAYS),
                        (HOUR, settings.MQTT_ROLLUP_HOUR_RETENTION_DAYS)):  # fmt: skip
        cutoff = now - timedelta(days=days)
        old = SeriesRollup.objects.filter(width=width, start__lt=cutoff).values_list("pk", flat=True)
        while ids := list(old[:chunk]):
            deleted += SeriesRollup.objects.filter(pk__in=ids).delete()[0]
    return deleted
