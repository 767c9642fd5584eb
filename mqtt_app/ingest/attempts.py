"""Transient failures (the database or Redis away) are waited out inside the task, a bounded time.

The batch stays with this worker meanwhile (its message unacknowledged, its lease renewed: tasks/leases.py),
so when the database is back every waiting batch is stored at once, in order, with no message re-published.
Past MQTT_INGEST_RETRY_WINDOW the task hands the batch back to the queue (tasks/ingest.py), so no task holds a
worker for ever; after MQTT_INGEST_MAX_RETRIES such rounds its messages become dead letters.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from mqtt_app.models import DeadLetter

from .isolate import is_transient, letter_row, stored_flags
from .pipeline import ingest_batch
from .service import Outcome
from .text import clean_text
from .wire import decode_batch

logger = logging.getLogger(__name__)


class StillFailing(Exception):
    """The retry window was spent on transient errors; `error` is the last."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def ingest_with_retries(
    raw: Any,  # noqa: ANN401 - whatever the queue held
    window: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """`ingest_batch`, transient errors retried with a growing delay (0.5 s up to 10 s) for `window` seconds."""
    window = settings.MQTT_INGEST_RETRY_WINDOW if window is None else window
    deadline = clock() + window
    delay, attempt = 0.5, 0
    while True:
        try:
            return ingest_batch(raw)
        except SoftTimeLimitExceeded as exc:
            _reset_connections()
            raise StillFailing(exc) from exc  # the task's time is up: back to the queue
        except Exception as exc:
            attempt += 1
            _reset_connections()
            if not is_transient(exc):
                logger.exception("ingest failed on an unexpected error; the batch is retried")
            elif attempt == 1 or attempt % 10 == 0:
                logger.warning("ingest waits for the database or Redis (attempt %d): %s", attempt, exc)
            if clock() + delay > deadline:
                raise StillFailing(exc) from exc
            sleep(delay)
            delay = min(delay * 2, 10.0)


def _reset_connections() -> None:
    """A connection that failed mid-transaction is unusable: drop it so the next attempt opens a new one."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()
    close_old_connections()


def dead_letter_batch(raw: Any, error: BaseException) -> int:  # noqa: ANN401 - whatever the queue held
    """Every message of a batch that failed on every retry, as dead letters (idempotent per batch)."""
    batch = decode_batch(raw)
    now, text = timezone.now(), clean_text(f"{type(error).__name__}: {error}")[:4000]
    messages = [(part.connection_id, message) for part in batch.parts for message in part.messages]
    stored = stored_flags(batch)  # parts a split stored before the failures began are not dead letters
    rows = [
        letter_row(uuid.uuid5(batch.id, f"gave-up-{index}"), batch.id, cid, message, "retries_exhausted", text, now)
        for index, ((cid, message), done) in enumerate(zip(messages, stored, strict=True))
        if not done
    ]
    with transaction.atomic():
        DeadLetter.objects.bulk_create(rows, ignore_conflicts=True)
    logger.error("batch %s failed on every retry (%s): its %d messages are dead letters", batch.id, text, len(rows))
    return len(rows)


__all__ = ["StillFailing", "dead_letter_batch", "ingest_with_retries", "is_transient"]
