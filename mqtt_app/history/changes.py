"""Which readings a roll-up run has not yet seen, derived from what the database commits, not from ids or times.

Ingestion transactions commit out of id and receive-time order (ids are cached per session, a batch can wait
out a retry window), so neither can be a watermark on PostgreSQL. There a run records the oldest transaction
id still running when it starts (`pg_snapshot_xmin`): every row of an older transaction was committed before,
so the run saw it; the next run reads the rows of that transaction id or newer. That also catches rows a
savepoint wrote (their ids are newer than their transaction's), and re-reads some rows already seen, which is
harmless: buckets are recomputed, and closed buckets skip the rows recorded in RolledLateReading.
SQLite lets one writer at a time commit, and ids are AUTOINCREMENT: its rows commit in id order.

Both look back only over rows received within MQTT_ROLLUP_LOOKBACK_SECONDS (the BRIN index on received_at),
so each run costs the rows of that window, not the table.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Max, QuerySet

from mqtt_app.models import TelemetryReading, ValueType

# A row's 32-bit xmin as a 64-bit transaction id: in the epoch of the newest id (%(top)s), or the one before when
# that would make it newer than the newest; frozen and special ids (below 3) are old rows: NULL, never "new".
_XID8 = (
    "CASE WHEN xmin::text::bigint < 3 THEN NULL "
    "WHEN (%(epoch)s | xmin::text::bigint) > %(top)s THEN (%(epoch)s | xmin::text::bigint) - 4294967296 "
    "ELSE %(epoch)s | xmin::text::bigint END"
)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def current_marker() -> int:
    """Read before the run reads any reading: the oldest running transaction id, or the largest reading id."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            return int(cursor.fetchone()[0])
    return int(TelemetryReading.objects.aggregate(top=Max("id"))["top"] or 0)


def numeric() -> QuerySet:
    return TelemetryReading.objects.filter(value_type=ValueType.NUMBER, value__isnull=False).order_by()


def unseen(marker: int | None, upto: int, floor: datetime) -> QuerySet:
    """Numeric readings a run with `marker` may not have seen (every reading on a first run), received since
    `floor`; on SQLite no newer than `upto`, the id read at this run's start."""
    rows = numeric()
    if marker is None:
        return rows.filter(id__lte=upto) if not is_postgresql() else rows
    rows = rows.filter(received_at__gte=floor)
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            top = int(cursor.fetchone()[0])
        # Our own SQL with integers we read ourselves; the marker is a bound parameter.
        xid8 = _XID8 % {"epoch": top >> 32 << 32, "top": top}
        return rows.extra(where=[f"({xid8}) >= %s"], params=[marker])  # noqa: S610
    return rows.filter(id__gt=marker, id__lte=upto)
