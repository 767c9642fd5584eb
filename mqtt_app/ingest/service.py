"""One listener batch, stored in one transaction, then announced live.

Order inside the transaction, and why:
1. UPDATE the connection's counters: takes the connection's row lock, so batches of one connection are
   serialised (topic creation and error grouping need no further locking) and a deleted connection is seen.
2. INSERT the IngestBatch row ON CONFLICT DO NOTHING: a redelivered batch, or the same batch racing on a
   second worker (which waits on the lock of step 1 or the primary key), inserts nothing and rolls back.
3. Topics, parsing, readings, error groups, topic counters, each in bulk.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
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
        total = _count_on_connection(batch, now)
        if total is None:
            logger.warning("batch %s: connection %s no longer exists, dropped", batch.id, batch.connection_id)
            return Outcome("no_connection", len(batch.messages)), None
        if not _claim(batch, now):
            transaction.set_rollback(True)  # undo the counter bump of step 1
            logger.info("batch %s already stored: skipped (redelivery)", batch.id)
            return Outcome("duplicate", len(batch.messages)), None
        found = discover(batch)
        parsed = parse_topics(batch.connection_id, found.topics)
        readings = save_readings(parsed.rows)
        changes = record_failures(batch.connection_id, parsed.failures, now)
        apply_counters(found.topics)
        IngestBatch.objects.filter(pk=batch.id).update(reading_count=readings, error_count=len(parsed.failures))
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


def _count_on_connection(batch: Batch, now) -> int | None:  # noqa: ANN001
    """Bump messages_received/last_message_at once per batch; the new total, or None if the connection is gone."""
    count = len(batch.messages) + batch.skipped
    fields: dict[str, Any] = {"messages_received": F("messages_received") + count}
    if batch.messages:
        newest = Value(batch.received_range[1])
        fields["last_message_at"] = Greatest(Coalesce(F("last_message_at"), newest), newest)
    rows = MqttConnection.objects.filter(pk=batch.connection_id)
    if not rows.update(**fields):
        return None
    return rows.values_list("messages_received", flat=True).first()


def _claim(batch: Batch, now) -> bool:  # noqa: ANN001
    """Insert the IngestBatch row; False when it already exists (committed by this or another worker)."""
    meta = IngestBatch._meta
    qn = connection.ops.quote_name
    columns = ["id", "connection_id", "message_count", "reading_count", "error_count", "processed_at"]
    values = [
        meta.get_field("id").get_db_prep_value(batch.id, connection),
        batch.connection_id,
        len(batch.messages),
        0,
        0,
        meta.get_field("processed_at").get_db_prep_value(now, connection),
    ]
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608 - our own names
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({qn('id')}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount == 1
