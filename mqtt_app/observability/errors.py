"""The application's own error rate: tasks that failed, out of every task run, counted in Redis.

Every process counts the Celery tasks it runs (`task_postrun`) in memory and adds the counts to per-minute and
per-hour Redis hashes (minutes for windows up to a day, hours beyond) at most once a second: one pipeline, not one
round trip per task (the ingest task runs once per batch). The health report adds the API's 5xx answers (its
latency samples) and the dead letters over the same window (observability/health.py). A process killed loses at
most its last second of counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

FLUSH_EVERY = 1.0  # seconds
# (bucket seconds, how long a bucket is kept): minutes for windows up to a day, hours up to the longest window
BUCKETS = ((60, 2 * 86400), (3600, 32 * 86400))


class TaskCounts:
    """This process's counts not yet in Redis."""

    def __init__(self) -> None:
        self.pending: Counter[tuple[int, str]] = Counter()
        self.lock = threading.Lock()
        self.flushed_at = 0.0

    def add(self, failed: bool, now: float | None = None) -> None:
        now = time.time() if now is None else now
        minute = int(now // 60) * 60
        with self.lock:
            self.pending[(minute, "tasks")] += 1
            if failed:
                self.pending[(minute, "tasks_failed")] += 1
            due = now - self.flushed_at >= FLUSH_EVERY
        if due:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        with self.lock:
            pending, self.pending = self.pending, Counter()
            self.flushed_at = time.time() if now is None else now
        if not pending:
            return
        from .latency import redis_client

        try:
            pipe = redis_client().pipeline(transaction=False)
            for (minute, field), count in pending.items():
                for width, keep in BUCKETS:
                    bucket = key(width, minute // width * width)
                    pipe.hincrby(bucket, field, count)
                    pipe.expire(bucket, keep)
            pipe.execute()
        except Exception:  # noqa: BLE001 - Redis away: the counts are a health figure, never worth a failure
            logger.debug("task counts not recorded", exc_info=True)


counts = TaskCounts()


def key(width: int, start: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:errors:{width}:{start}"


def record_task(state: Any) -> None:  # noqa: ANN401 - Celery's state string
    counts.add(failed=state == "FAILURE")


def task_totals(since: float, until: float) -> tuple[int, int] | None:
    """(tasks run, tasks failed) between two epoch times, to the minute (to the hour past a day); None when Redis
    does not answer."""
    from .latency import redis_client

    width = 60 if until - since <= 86400 else 3600
    first, last = int(since // width) * width, int(until // width) * width
    try:
        pipe = redis_client().pipeline(transaction=False)
        for start in range(first, last + width, width):
            pipe.hmget(key(width, start), "tasks", "tasks_failed")
        rows = pipe.execute()
    except Exception:  # noqa: BLE001 - Redis away: "no data", not an error of the report
        logger.warning("could not read the task counts", exc_info=True)
        return None
    run = sum(int(row[0] or 0) for row in rows)
    failed = sum(int(row[1] or 0) for row in rows)
    return run, failed
