"""One listener batch (the messages of one or several connections), stored in one transaction, then announced.

Order, and why:
1. Outside any transaction: read the rows of the batch's known topics and parse their messages. Parsing is
   most of a batch's CPU; done here, one worker parses while another holds the locks of step 3.
2. In the transaction, before any lock: COPY the readings of those topics (and the raw payloads of those that
   keep them: ingest/archive.py). Writing them was half of the time a batch held its locks, and every batch of
   a listener shares its connections, so batches waited for each other's COPY; the insert locks no existing
   row, so here it waits for nobody and nobody waits for it.
3. Lock the batch's connections' rows in ascending id order and bump their counters: batches sharing a
   connection are serialised from here on (topic creation and error grouping need no further locking), the
   fixed order cannot deadlock, and a deleted connection is seen. Every delete of a site, connection or
   topic takes the same locks first (models/deletion.py).
4. Create the topics that had no row, and parse their messages (rare after the first batches).
5. Topic counters, which also return every topic's parser settings as they are now. If a connection or a
   topic was deleted, or a topic given other settings, since step 1, the readings of step 2 may be wrong:
   the transaction is rolled back and the batch stored again, this time writing its readings only after
   this step, with the stale topics parsed again and the deleted ones discovered again (`_revise`). Rare:
   it takes a staff edit during the batch. Then the Sparkplug B messages, which step 1 set aside (their aliases
   come from earlier births), are applied in the order received to the connection's state in the database
   (`parse_in_order`, mqtt_app/sparkplug/): under the lock, so births apply in order and a duplicate's
   rollback takes its state changes with it.
6. INSERT the IngestBatch rows ON CONFLICT DO NOTHING, with the final counts, and add those to each
   connection's result counters (one statement): a redelivered batch, or the same batch racing on a second
   worker (which waited on the locks of step 3), inserts nothing and the transaction rolls back, counters
   and readings included.
7. The topics' error counts, the readings and raw payloads not written at step 2 (new topics') and error
   groups.
After commit: the live events of each connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from mqtt_app.models import IngestBatch, MqttConnection

from . import archive, live
from .errors import GroupChange, record_failures
from .parse import Parsed, parse_in_order, parse_topics
from .persist import save_readings
from .sql import int_array, is_postgresql, pg_fetch, table
from .topics import (
    Current,
    Discovery,
    TopicBatch,
    TopicRow,
    apply_counters,
    apply_errors,
    create_missing,
    known_topics,
    topic_cache,
)
from .wire import Batch, Part

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
    dead_letters: int = 0  # messages that could not be stored (mqtt_app/ingest/isolate.py)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def store_batch(batch: Batch) -> tuple[Outcome, list[live.LiveUpdate]]:
    now = timezone.now()
    stored = _store(batch, now, copy_first=True)
    if stored is None:
        # A connection or topic of the batch was deleted, or a topic given other parser settings, after the
        # batch was read and its readings written (rare: staff edits). That transaction was rolled back; this
        # one writes every reading only once the locks have shown what is current (`_revise`).
        logger.info("batch %s: its topics changed while it was stored: storing it again", batch.id)
        stored = _store(batch, now, copy_first=False)
    assert stored is not None  # noqa: S101 - only the copy_first attempt gives up
    return stored


def _store(batch: Batch, now: datetime, *, copy_first: bool) -> tuple[Outcome, list[live.LiveUpdate]] | None:
    """Steps 1-7 of the module docstring; None when `copy_first` wrote readings that the locks then showed
    stale (the transaction is rolled back: nothing of it stays)."""
    found = known_topics(batch.parts)
    parsed = {cid: parse_topics(cid, discovery.topics) for cid, discovery in found.items()}
    with transaction.atomic():
        copied = {cid: len(result.rows) for cid, result in parsed.items()} if copy_first else {}
        readings = save_readings([row for result in parsed.values() for row in result.rows]) if copy_first else 0
        archived = {cid: len(discovery.topics) for cid, discovery in found.items()} if copy_first else {}
        for cid in archived:  # the known topics' raw payloads, like their readings, before any lock
            archive.archive(cid, found[cid].topics)
        totals = _count_on_connections(batch.parts)
        parts = [part for part in batch.parts if part.connection_id in totals]
        if copy_first and len(parts) < len(batch.parts):
            transaction.set_rollback(True)  # readings written for a connection deleted since
            return None
        for part in batch.parts:
            if part.connection_id not in totals:
                logger.warning(
                    "batch %s: connection %s no longer exists, its %d messages dropped",
                    batch.id,
                    part.connection_id,
                    len(part.messages),
                )
        if not parts:
            return Outcome("no_connection", batch.message_count), []
        for part in parts:
            cid = part.connection_id
            parsed[cid].merge(parse_topics(cid, create_missing(cid, found[cid])))
        current = apply_counters([(p.connection_id, e) for p in parts for e in found[p.connection_id].topics])
        if copy_first:
            if any(_changed(found[p.connection_id], current) for p in parts):
                transaction.set_rollback(True)
                return None
        else:  # copy_first found nothing to revise: only this path compares every topic again
            for part in parts:
                _revise(part.connection_id, found[part.connection_id], parsed[part.connection_id], current)
        for part in parts:  # under the lock: births apply in message order, and roll back with a duplicate
            parse_in_order(part.connection_id, part, parsed[part.connection_id])
        results = [parsed[p.connection_id] for p in parts]
        if not _claim(batch, parts, results, now):
            transaction.set_rollback(True)  # undo the counter bumps and any topic created above
            logger.info("batch %s already stored: skipped (redelivery)", batch.id)
            return Outcome("duplicate", batch.message_count), []
        # Once committed, this batch's rows are what the next batches of this process start from.
        transaction.on_commit(lambda: _remember_topics(found))
        apply_errors([entry for p in parts for entry in found[p.connection_id].topics])
        for part in parts:  # the rest: topics created under the lock (every topic when not `copy_first`)
            archive.archive(part.connection_id, found[part.connection_id].topics[archived.get(part.connection_id, 0) :])
        # The rows not written before the locks: those of topics created under them (all of them when not
        # `copy_first`); `_changed` guarantees nothing written before was dropped since.
        rest = [row for p in parts for row in parsed[p.connection_id].rows[copied.get(p.connection_id, 0) :]]
        readings += save_readings(rest)
        failures = [failure for result in results for failure in result.failures]
        changes = record_failures(failures, now)
    outcome = Outcome(
        "stored",
        batch.message_count,
        readings,
        len(failures),
        sum(len(found[p.connection_id].new) for p in parts),
        sum(found[p.connection_id].dropped_messages for p in parts),
    )
    updates = [_live_update(p, found[p.connection_id], parsed[p.connection_id], changes, totals) for p in parts]
    return outcome, updates


def _changed(found: Discovery, current: Current) -> bool:
    """Whether a topic read before the locks was deleted or given other parser settings since."""
    return any(current.get(e.row.pk) != (e.row.is_processable, e.row.parser_name) for e in found.topics)


def _remember_topics(found: dict[int, Discovery]) -> None:
    for cid, discovery in found.items():
        topic_cache.remember(cid, [entry.row for entry in discovery.topics])


def _revise(cid: int, found: Discovery, parsed: Parsed, current: Current) -> None:
    """Under the lock, with every row's settings as they are now (`apply_counters`): topics given another
    parser (or turned on or off) since the batch was parsed are parsed again; topics deleted meanwhile are
    discovered again, like new ones (rare: staff edits and deletes during the batch)."""
    stale: list[TopicBatch] = []
    gone: list[TopicBatch] = []
    for entry in found.topics:
        now = current.get(entry.row.pk)
        if now is None:
            gone.append(entry)
        elif now != (entry.row.is_processable, entry.row.parser_name):
            stale.append(entry)
    if not stale and not gone:
        return
    parsed.drop_topics({entry.row.pk for entry in stale + gone})
    for entry in stale:
        row = entry.row
        entry.row = TopicRow(row.pk, row.topic, *current[row.pk])
        entry.errors = 0
    parsed.merge(parse_topics(cid, stale))
    if gone:
        logger.info("connection %s: %d topics deleted since the batch was read: discovered again", cid, len(gone))
        gone_ids = {entry.row.pk for entry in gone}
        found.topics = [entry for entry in found.topics if entry.row.pk not in gone_ids]
        found.new = [entry for entry in found.new if entry.row.pk not in gone_ids]
        for entry in gone:
            found.missing[entry.row.topic] = entry.messages
        fresh = create_missing(cid, found)
        parsed.merge(parse_topics(cid, fresh))
        apply_counters([(cid, entry) for entry in fresh])  # rows this transaction has just created or read


def _live_update(
    part: Part, found: Discovery, parsed: Parsed, changes: list[GroupChange], totals: dict[int, int]
) -> live.LiveUpdate:
    cid = part.connection_id
    received = part.received_range
    return live.LiveUpdate(
        connection_id=cid,
        counts={t.row.pk: len(t.messages) for t in found.topics},
        published_at=received[0].timestamp() if received else None,
        new_topics=found.new,
        error_changes=[change for change in changes if change.connection_id == cid],
        messages_received=totals[cid],
        rows=parsed.rows,
        topics=found.topics,
    )


def _count_on_connections(parts: list[Part]) -> dict[int, int]:
    """Lock the connections' rows in ascending id order and bump messages_received/last_message_at once per
    batch; the new totals of the connections that still exist."""
    counts = sorted((p.connection_id, len(p.messages) + p.skipped, _newest(p)) for p in parts)
    if is_postgresql():
        return _count_postgresql(counts)
    return {cid: total for cid, n, newest in counts if (total := _count_one(cid, n, newest)) is not None}


def _newest(part: Part) -> datetime | None:
    received = part.received_range
    return received[1] if received else None


def _count_postgresql(counts: list[tuple[int, int, datetime | None]]) -> dict[int, int]:
    """One statement: the CTE locks the rows in id order (ORDER BY under FOR UPDATE locks as it returns rows),
    then every counter is bumped; a row is only updated once the CTE has locked it."""
    name = table(MqttConnection)
    sql = (
        f"WITH locked AS (SELECT id FROM {name} WHERE id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE) "  # noqa: S608
        f"UPDATE {name} AS c SET messages_received = c.messages_received + v.n, "
        "last_message_at = CASE WHEN v.newest IS NULL THEN c.last_message_at "
        "WHEN c.last_message_at IS NULL OR c.last_message_at < v.newest THEN v.newest ELSE c.last_message_at END "
        "FROM unnest(%b::bigint[], %b::bigint[], %b::timestamptz[]) AS v(id, n, newest), locked "
        "WHERE c.id = v.id AND locked.id = v.id RETURNING c.id, c.messages_received"
    )
    ids = [c[0] for c in counts]
    return dict(pg_fetch(sql, [ids, ids, [c[1] for c in counts], [c[2] for c in counts]]))


def _count_one(connection_id: int, count: int, newest: datetime | None) -> int | None:
    when = connection.ops.adapt_datetimefield_value(newest)
    sql = (
        f"UPDATE {table(MqttConnection)} SET messages_received = messages_received + %s, "  # noqa: S608
        "last_message_at = CASE WHEN %s IS NULL THEN last_message_at "
        "WHEN last_message_at IS NULL OR last_message_at < %s THEN %s ELSE last_message_at END "
        "WHERE id = %s RETURNING messages_received"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, when, when, when, connection_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _claim(batch: Batch, parts: list[Part], results: list[Parsed], now: datetime) -> bool:
    """Insert one IngestBatch row per connection part, before any reading is written, and add its counts to
    the connection's result counters (messages_stored/_failed, readings_stored); False when any already
    exists (committed by an earlier delivery, or by another worker that held the connections' locks first).
    A part's row id depends on the batch and its connection only (see IngestBatch), so a redelivery collides
    even when a connection was deleted in between."""
    first = batch.parts[0].connection_id  # as sent: the same on every delivery
    ids = [IngestBatch.part_id(batch.id, p.connection_id, p.connection_id == first) for p in parts]
    counts = [
        (p.connection_id, len(p.messages) + p.skipped, len(result.rows), len(result.failures))
        for p, result in zip(parts, results, strict=True)
    ]
    name = table(IngestBatch)
    columns = "(id, batch, connection_id, message_count, reading_count, error_count, processed_at)"
    if is_postgresql():
        # One statement: the parts' rows, and each connection's result counters for the parts inserted. Arrays,
        # so its text is the same for any number of parts and psycopg caches its parsing (a VALUES list of 7
        # placeholders a part went past psycopg's 50-parameter cache: 1.4 ms of CPU a batch).
        connections = table(MqttConnection)
        sql = (
            f"WITH claimed AS (INSERT INTO {name} {columns} SELECT v.id, %b, v.c, v.m, v.r, v.e, %b "  # noqa: S608
            "FROM unnest(%b::uuid[], %s::bigint[], %s::integer[], %s::integer[], %s::integer[]) AS v(id, c, m, r, e) "
            "ON CONFLICT (id) DO NOTHING RETURNING connection_id, message_count, reading_count, error_count) "
            f"UPDATE {connections} AS c SET messages_stored = c.messages_stored + x.message_count - x.error_count, "
            "messages_failed = c.messages_failed + x.error_count, "
            "readings_stored = c.readings_stored + x.reading_count "
            "FROM claimed AS x WHERE c.id = x.connection_id RETURNING c.id"
        )
        columns_of = [int_array(column) for column in zip(*counts, strict=True)]
        return len(pg_fetch(sql, [batch.id, now, ids, *columns_of])) == len(parts)
    prep = IngestBatch._meta.get_field("id").get_db_prep_value
    batch_value, processed_at = prep(batch.id, connection), connection.ops.adapt_datetimefield_value(now)
    rows = [(prep(pk, connection), batch_value, *row, processed_at) for pk, row in zip(ids, counts, strict=True)]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = f"INSERT INTO {name} {columns} VALUES {placeholders} ON CONFLICT (id) DO NOTHING"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        if cursor.rowcount != len(rows):
            return False
        cursor.executemany(
            f"UPDATE {table(MqttConnection)} SET messages_stored = messages_stored + %s, "  # noqa: S608
            "messages_failed = messages_failed + %s, readings_stored = readings_stored + %s WHERE id = %s",
            [(m - e, e, r, cid) for cid, m, r, e in counts],
        )
        return True
