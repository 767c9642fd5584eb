"""One listener batch, stored in one transaction, then announced live.

Order inside the transaction, and why:
1. UPDATE the connection's counters: takes the connection's row lock, so batches of one connection are
   serialised (topic creation and error grouping need no further locking) and a deleted connection is seen.
2. Topics (read, and create the new ones), then parse in Python: no database round trips.
3. INSERT the IngestBatch row ON CONFLICT DO NOTHING, before any reading is written: a redelivered batch, or
   the same batch racing on a second worker (which waited on the lock of step 1), inserts nothing and the
   transaction rolls back.
4. Readings (COPY or bulk_create), error groups, topic counters: a handful of statements per batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from mqtt_app.models import IngestBatch, MqttConnection

from . import live
from .decode import BadBatch, Batch, decode_batch
from .errors import record_failures
from .parse import parse_topics
from .persist import save_readings
from .topics import apply_counters, discover

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str  # "stored", "duplicate", "no_connection", "bad_batch"
    messages: int = 0
    readings: int = 0
    errors: int = 0
    new_topics: int = 0
    dropped: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ingest_batch(raw: Any, *, announce: bool = True) -> Outcome:
    """Store one batch (idempotent per batch id) and, after commit, send its live events."""
    try:
        batch = decode_batch(raw)
    except BadBatch as exc:
        logger.error("dropping an unusable batch: %s", exc)
        return Outcome("bad_batch")
    outcome, update = store_batch(batch)
    if update is not None and announce:
        outcome.events = live.publish(update)
    return outcome


def store_batch(batch: Batch) -> tuple[Outcome, live.LiveUpdate | None]:
    now = timezone.now()
    with transaction.atomic():
        total = _count_on_connection(batch)
        if total is None:
            logger.warning("batch %s: connection %s no longer exists, dropped", batch.id, batch.connection_id)
            return Outcome("no_connection", len(batch.messages)), None
        found = discover(batch)
        parsed = parse_topics(batch.connection_id, found.topics)  # CPU only: no database round trips
        if not _claim(batch, now, len(parsed.rows), len(parsed.failures)):
            transaction.set_rollback(True)  # undo the counter bump and any topic created above
            logger.info("batch %s already stored: skipped (redelivery)", batch.id)
            return Outcome("duplicate", len(batch.messages)), None
        readings = save_readings(parsed.rows)
        changes = record_failures(batch.connection_id, parsed.failures, now)
        apply_counters(found.topics)
    outcome = Outcome("stored", len(batch.messages), readings, len(parsed.failures), len(found.new),
                      found.dropped_messages)
    update = live.LiveUpdate(
        connection_id=batch.connection_id,
        latest=parsed.latest,
        counts={t.row.pk: len(t.messages) for t in found.topics},
        published_at=batch.received_range[0].timestamp() if batch.messages else None,
        new_topics=found.new,
        error_changes=changes,
        messages_received=total,
    )
    return outcome, update


def _count_on_connection(batch: Batch) -> int | None:
    """Bump messages_received/last_message_at once per batch (one statement, which also takes the connection's
    row lock); the new total, or None if the connection is gone."""
    table = connection.ops.quote_name(MqttConnection._meta.db_table)
    newest = batch.received_range[1] if batch.messages else None
    newest = connection.ops.adapt_datetimefield_value(newest)
    sql = (
        f"UPDATE {table} SET messages_received = messages_received + %s, "  # noqa: S608 - our own names
        "last_message_at = CASE WHEN %s IS NULL THEN last_message_at "
        "WHEN last_message_at IS NULL OR last_message_at < %s THEN %s ELSE last_message_at END "
        "WHERE id = %s RETURNING messages_received"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [len(batch.messages) + batch.skipped, newest, newest, newest, batch.connection_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _claim(batch: Batch, now, readings: int, errors: int) -> bool:  # noqa: ANN001
    """Insert the IngestBatch row, before any reading is written; False when it already exists (committed by
    an earlier delivery, or by another worker that held the connection's lock first)."""
    meta = IngestBatch._meta
    qn = connection.ops.quote_name
    columns = ["id", "connection_id", "message_count", "reading_count", "error_count", "processed_at"]
    values = [
        meta.get_field("id").get_db_prep_value(batch.id, connection),
        batch.connection_id,
        len(batch.messages),
        readings,
        errors,
        meta.get_field("processed_at").get_db_prep_value(now, connection),
    ]
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608 - our own names
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({qn('id')}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount == 1
