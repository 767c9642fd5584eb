"""Series for charts: the min, max, average and count of one (topic, metric) per bucket of a time range.

The bucket width follows from the range and the number of points asked for; the width picks the source:
- under a minute: the raw readings, rows and compacted blocks (a range of at most a day and a half at 2,000
  points);
- a minute up to an hour: the minute rollups (widths rounded up to whole minutes);
- an hour or more: the hour rollups (whole hours).
Where the raw readings (or minute rollups) are past their retention, the next coarser source answers.
Buckets are aligned to multiples of the width since the epoch, and the range is widened to whole buckets, so
every source gives the same answer for the same width: the raw readings of [first bucket, last bucket end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import BigIntegerField, Count, Func, Max, Min, QuerySet, Sum
from django.utils import timezone

from mqtt_app.models import SeriesRollup, ValueType
from mqtt_app.models.rollups import HOUR, MINUTE

from . import stored
from .changes import numeric

RAW, MINUTES, HOURS = "raw", "minute", "hour"
Aggregate = tuple[float, float, float, int]  # min, max, sum, count


class EpochBucket(Func):
    """floor(epoch seconds of a time column / width): the bucket number, on PostgreSQL and SQLite."""

    output_field = BigIntegerField()

    def __init__(self, column: str, width: int) -> None:
        super().__init__(column)
        self.width = int(width)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # noqa: ANN401
        template = "FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / %(width)d)"
        return super().as_sql(compiler, connection, template=template, width=self.width, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # noqa: ANN401
        # Times before 1970 would need a floor; readings have none. '%%%%s' is strftime's %s once formatted.
        template = "(CAST(strftime('%%%%s', %(expressions)s) AS INTEGER) / %(width)d)"
        return super().as_sql(compiler, connection, template=template, width=self.width, **extra)


@dataclass(frozen=True)
class Plan:
    width: int  # seconds
    source: str
    since: datetime  # widened to whole buckets
    until: datetime


def plan(since: datetime, until: datetime, points: int, now: datetime | None = None) -> Plan:
    """The width (at most `points` buckets over the range) and the source that answers it."""
    now = now or timezone.now()
    wanted = max(1, math.ceil((until - since).total_seconds() / max(1, points - 1)))
    raw_kept = now - timedelta(days=settings.MQTT_READING_RETENTION_DAYS)
    minutes_kept = now - timedelta(days=settings.MQTT_ROLLUP_MINUTE_RETENTION_DAYS)
    if wanted < MINUTE and since >= raw_kept:
        width, source = wanted, RAW
    elif wanted < HOUR and since >= minutes_kept:
        width, source = math.ceil(wanted / MINUTE) * MINUTE, MINUTES
    else:
        width, source = math.ceil(wanted / HOUR) * HOUR, HOURS
    first = math.floor(since.timestamp() / width) * width
    last = math.ceil(until.timestamp() / width) * width
    return Plan(width, source, _at(first), _at(max(last, first + width)))


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def buckets(topic_id: int, metric: str, how: Plan) -> list[dict[str, Any]]:
    """[{"t", "min", "max", "avg", "count"}] oldest first; buckets without readings are left out."""
    found = {row["k"]: (row["lo"], row["hi"], row["total"], row["n"]) for row in _source(topic_id, metric, how)}
    if how.source == RAW:  # compacted readings of the range too
        series = stored.series_of([topic_id], metric, value_type=ValueType.NUMBER)
        for k, more in stored.buckets(series, how.since, how.until, how.width).items():
            found[k] = _combined(found[k], more) if k in found else more
    return [
        {"t": _at(k * how.width), "min": lo, "max": hi, "avg": total / n, "count": n}
        for k, (lo, hi, total, n) in sorted(found.items()) if n
    ]  # fmt: skip


def _combined(a: Aggregate, b: Aggregate) -> Aggregate:
    return min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2], a[3] + b[3]


def _source(topic_id: int, metric: str, how: Plan) -> QuerySet:
    if how.source == RAW:
        raw = numeric().filter(topic_id=topic_id, metric=metric, timestamp__gte=how.since, timestamp__lt=how.until)
        grouped = raw.annotate(k=EpochBucket("timestamp", how.width)).values("k")
        return grouped.annotate(lo=Min("value"), hi=Max("value"), total=Sum("value"), n=Count("id"))
    rollups = SeriesRollup.objects.filter(
        topic_id=topic_id, metric=metric, width=MINUTE if how.source == MINUTES else HOUR,
        start__gte=how.since, start__lt=how.until,
    ).order_by()  # fmt: skip
    grouped = rollups.annotate(k=EpochBucket("start", how.width)).values("k")
    return grouped.annotate(lo=Min("min"), hi=Max("max"), total=Sum("sum"), n=Sum("count"))
