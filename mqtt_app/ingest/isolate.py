"""No message can fail the messages beside it.

`store_safely` stores a batch whole. When that fails for a reason that is not transient (the database refused a
value, a bug met an input nobody foresaw), the batch is stored in halves, each half the same way, down to the
single messages that still fail: those become DeadLetter rows with their raw payload, and everything else is
stored. Transient errors (the database or Redis away) are raised for the task to retry: nothing is isolated
because a server was down.

Idempotent like a whole batch: each half has an id derived from its parent's, and before splitting, the
parent's claim is written with `split` set. A redelivery then goes straight to the halves (one may be stored
already, the other not), and can never store the parent whole on top of a stored half.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import fields
from datetime import datetime

import psycopg
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.utils import timezone

from mqtt_app.models import DeadLetter, IngestBatch, MqttConnection

from . import live
from .service import Outcome, store_batch
from .sql import table
from .text import clean_text
from .wire import Batch, Message, Part

logger = logging.getLogger(__name__)

# Errors that say nothing about the batch: retried (tasks/ingest.py), never isolated. Django wraps most
# database errors, but psycopg's own come through unwrapped from the COPY path.
TRANSIENT: tuple[type[BaseException], ...] = (
    SoftTimeLimitExceeded,  # a store that took too long (a lock wait, a stalled server) says nothing of its batch
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.InternalError,
    psycopg.ProgrammingError,  # e.g. a table missing until `migrate` has run: not the message's fault
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    # Django's wrappers: everything but what a value can cause (DataError, IntegrityError).
    return isinstance(exc, DatabaseError) and not isinstance(exc, DataError | IntegrityError)


Updates = list[live.LiveUpdate]


def store_safely(batch: Batch) -> tuple[Outcome, Updates]:
    """Store the batch; isolate what cannot be stored. Raises only transient errors."""
    try:
        outcome, updates = store_batch(batch)
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.warning("batch %s could not be stored whole (%s): storing it in parts", batch.id, _describe(exc))
        return _isolate(batch, exc)
    if outcome.status == "duplicate" and _split_before(batch):
        return _isolate(batch, None)  # a redelivery of a batch that was being stored in parts
    return outcome, updates


def _isolate(batch: Batch, exc: Exception | None) -> tuple[Outcome, Updates]:
    messages = [(part.connection_id, m) for part in batch.parts for m in part.messages]
    if len(messages) <= 1:
        if not messages:  # nothing of the batch's own: the failure is not about its content
            raise exc or RuntimeError(f"batch {batch.id} has no message to store")
        return _dead_letter(batch, exc), []
    if not _mark_split(batch):
        return Outcome("duplicate", batch.message_count), []
    middle = len(messages) // 2
    total, updates = Outcome("duplicate", batch.message_count), []
    for index, half in enumerate((messages[:middle], messages[middle:])):
        skipped = {p.connection_id: p.skipped for p in batch.parts} if index == 0 else {}
        child = _sub_batch(batch, index, half, skipped)
        outcome, child_updates = store_safely(child)
        if outcome.status != "duplicate":
            _add(total, outcome)
        updates += child_updates
    return total, updates


def stored_flags(batch: Batch) -> list[bool]:
    """For each message of the batch (in order), whether it is stored already: by the batch whole, or by one of
    the parts a split stored (the claims say which)."""
    messages = [(part.connection_id, m) for part in batch.parts for m in part.messages]
    claims = dict(IngestBatch.objects.filter(id__in=_claim_ids(batch)).values_list("id", "split"))
    if not claims:
        return [False] * len(messages)
    if not any(claims.values()) or len(messages) <= 1:
        return [True] * len(messages)
    middle = len(messages) // 2
    skipped = {p.connection_id: p.skipped for p in batch.parts}
    halves = (_sub_batch(batch, 0, messages[:middle], skipped), _sub_batch(batch, 1, messages[middle:], {}))
    return [flag for half in halves for flag in stored_flags(half)]


def _sub_batch(batch: Batch, index: int, messages: list, skipped: dict[int, int]) -> Batch:
    parts: dict[int, Part] = {}
    for cid, message in messages:
        parts.setdefault(cid, Part(cid, skipped=skipped.get(cid, 0))).messages.append(message)
    return Batch(uuid.uuid5(batch.id, str(index)), batch.listener, list(parts.values()), batch.sent_at)


def _claim_ids(batch: Batch) -> list[uuid.UUID]:
    first = batch.parts[0].connection_id
    return [IngestBatch.part_id(batch.id, p.connection_id, p.connection_id == first) for p in batch.parts]


def _split_before(batch: Batch) -> bool:
    return IngestBatch.objects.filter(id__in=_claim_ids(batch), split=True).exists()


def _mark_split(batch: Batch) -> bool:
    """Write the batch's claim as split (own transaction); False when it was stored whole already."""
    now = timezone.now()
    rows = [
        IngestBatch(id=pk, batch=batch.id, connection_id=p.connection_id, message_count=0, processed_at=now, split=True)
        for pk, p in zip(_claim_ids(batch), batch.parts, strict=True)
    ]
    with transaction.atomic():
        IngestBatch.objects.bulk_create(rows, ignore_conflicts=True)
        stored_whole = IngestBatch.objects.filter(id__in=[r.id for r in rows], split=False).exists()
    return not stored_whole


def _dead_letter(batch: Batch, exc: Exception | None) -> Outcome:
    """The one message left: its claim and its DeadLetter row in one transaction, counted as received and failed
    on its connection."""
    part = next(p for p in batch.parts if p.messages)
    message = part.messages[0]
    now = timezone.now()
    kind, text = _kind(exc), clean_text(_describe(exc))
    count = 1 + part.skipped
    with transaction.atomic():
        if not _claim_one(_claim_ids(batch)[batch.parts.index(part)], batch.id, part.connection_id, count, now):
            return Outcome("duplicate", 1)
        letter_row(uuid.uuid5(batch.id, "dead-letter"), batch.id, part.connection_id, message, kind, text, now).save(
            force_insert=True
        )
        _count_failed(part.connection_id, count)
    logger.error(
        "connection %s topic %r: a message could not be stored (%s); kept as dead letter %s",
        part.connection_id,
        clean_text(message.topic)[:200],
        text[:500],
        uuid.uuid5(batch.id, "dead-letter"),
    )
    return Outcome("stored", count, errors=1, dead_letters=1)


def letter_row(
    pk: uuid.UUID, batch_id: uuid.UUID, connection_id: int, message: Message, kind: str, error: str, now: datetime
) -> DeadLetter:
    return DeadLetter(
        id=pk,
        batch=batch_id,
        connection_id=connection_id,
        topic=clean_text(message.topic),
        payload=message.payload,
        qos=message.qos,
        retain=message.retain,
        received_at=message.received_at,
        error_kind=kind,
        error=error,
        created_at=now,
    )


def _claim_one(pk: uuid.UUID, batch_id: uuid.UUID, connection_id: int, count: int, now) -> bool:  # noqa: ANN001
    """Insert the claim of a one-message batch that failed; False when a delivery before this one did."""
    prep = IngestBatch._meta.get_field("id").get_db_prep_value
    sql = (
        f"INSERT INTO {table(IngestBatch)} (id, batch, connection_id, message_count, reading_count, "  # noqa: S608
        "error_count, processed_at, split) VALUES (%s, %s, %s, %s, 0, 1, %s, %s) ON CONFLICT (id) DO NOTHING"
    )
    values = [prep(pk, connection), prep(batch_id, connection), connection_id, count]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, connection.ops.adapt_datetimefield_value(now), False])
        return cursor.rowcount == 1


def _count_failed(connection_id: int, count: int) -> None:
    sql = (
        f"UPDATE {table(MqttConnection)} SET messages_received = messages_received + %s, "  # noqa: S608
        "messages_failed = messages_failed + %s WHERE id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, 1, connection_id])


def _kind(exc: Exception | None) -> str:
    if exc is None:
        return "unknown"
    return type(exc).__name__[:40]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "stored in parts after an earlier failure"
    return f"{type(exc).__name__}: {exc}"[:4000]


def _add(total: Outcome, other: Outcome) -> None:
    """Sum what the parts stored (the parts already stored by an earlier delivery count for nothing)."""
    if total.status == "duplicate":
        total.status, total.messages = other.status, 0
    for f in fields(Outcome):
        if f.name != "status":
            setattr(total, f.name, getattr(total, f.name) + getattr(other, f.name))
