"""Topic auto-discovery: every topic of a batch becomes (or already is) an MqttTopic row of its connection.

New rows are created in one bulk insert, with a parser when the registry claims the topic; counters of all the
batch's topics are written in one bulk update per batch (`apply_counters`), never per message.

A retained message delivered because the connection (re)subscribed (its retain flag is set: live publishes
reach a subscriber with the flag clear) is a replay of what the broker keeps, not news: when its payload is
the one last stored for its topic, it is dropped before anything counts it (`drop_replays`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from mqtt_app.models import MqttTopic
from mqtt_app.models.topics import MAX_TOPIC_LENGTH

from .sql import int_array, is_postgresql, pg_fetch, table
from .wire import Message, Part

logger = logging.getLogger(__name__)

IN_CHUNK = 500  # keeps `topic IN (...)` well under every backend's parameter limit

# Connections already warned about in this process: the cap warning is logged once, not once per batch.
_warned_cap: set[int] = set()


@dataclass(slots=True)
class TopicRow:
    """What ingestion needs of an MqttTopic row (a model instance per topic per batch cost more than the query)."""

    pk: int
    topic: str
    is_processable: bool
    parser_name: str


@dataclass(slots=True)
class TopicBatch:
    """One topic's share of a batch: its row, its messages, and what the batch adds to its counters."""

    row: TopicRow
    messages: list[Message]
    is_new: bool = False
    errors: int = 0
    sample: Message | None = None  # latest message small enough to keep as the payload sample


@dataclass(slots=True)
class Discovery:
    topics: list[TopicBatch] = field(default_factory=list)
    new: list[TopicBatch] = field(default_factory=list)
    missing: dict[str, list[Message]] = field(default_factory=dict)  # names with no row yet
    dropped_messages: int = 0  # messages of topics that could not be stored (cap, over-long name, deleted)
    replays: int = 0  # retained messages dropped as replays of the stored payload (`drop_replays`)


def group_by_topic(messages: list[Message]) -> dict[str, list[Message]]:
    grouped: dict[str, list[Message]] = {}
    for message in messages:
        grouped.setdefault(message.topic, []).append(message)
    return grouped


class TopicCache:
    """Per process: the committed rows of the topics this worker has seen, by (connection id, topic).

    Every batch used to look its topics up first (one join of all its names against the topic table: about a
    tenth of a batch's CPU, worker and database, at ten connections). A stale entry is harmless, because
    `apply_counters` reads each row's settings again under the lock: a topic given another parser since is
    parsed again, a deleted one is discovered again (`_revise`), and the entry is then replaced. Entries are
    only added from committed rows (read outside any transaction, or after the batch's commit), and ids are
    never reused, so an entry never names another topic. Bounded: emptied when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: dict[tuple[int, str], TopicRow] = {}

    def remember(self, connection_id: int, rows: list[TopicRow]) -> None:
        if len(self.rows) + len(rows) > self.size:
            self.rows.clear()
        for row in rows:
            self.rows[connection_id, row.topic] = row

    def clear(self) -> None:
        self.rows.clear()


TOPIC_CACHE_SIZE = 200_000  # ~40 MB at most per worker process; twenty connections at the topic cap
topic_cache = TopicCache(TOPIC_CACHE_SIZE)


def known_topics(parts: list[Part]) -> dict[int, Discovery]:
    """Per connection of the batch: its topics that already have a row, and the names that have none. From
    the process's `topic_cache`, then one query for the names it lacks (one for all the connections on
    PostgreSQL). Read before the batch takes any lock, so the batch can be parsed outside its transaction;
    `apply_counters` then says, under the lock, which rows were deleted or given another parser meanwhile."""
    grouped = {part.connection_id: group_by_topic(part.messages) for part in parts}
    cached = topic_cache.rows
    unknown = {cid: [n for n in names if (cid, n) not in cached] for cid, names in grouped.items()}
    unknown = {cid: names for cid, names in unknown.items() if names}
    existing = _existing_rows(unknown) if unknown else {}
    found: dict[int, Discovery] = {}
    for cid, names in grouped.items():
        discovery = found[cid] = Discovery()
        rows = existing.get(cid, {})
        for name, messages in names.items():
            row = cached.get((cid, name)) or rows.get(name)
            if row is None:
                discovery.missing[name] = messages
            else:
                discovery.topics.append(TopicBatch(row, messages))
    for cid, rows in existing.items():  # after the lookups above: remembering may empty a full cache
        topic_cache.remember(cid, list(rows.values()))
    for part in parts:
        if any(message.retain for message in part.messages):
            drop_replays(part, found[part.connection_id])
    return found


def drop_replays(part: Part, discovery: Discovery) -> None:
    """Drop the retained messages whose payload is the one last stored for their topic (or the one just before
    them in this batch): a broker resends every retained message on each subscribe, and a replay is not a new
    reading, not traffic and not a sign of life. They leave the part too, so the connection's counters and the
    batch's counts never see them. A retained message with another payload is kept (and stored as retained)."""
    wanted = [entry.row.pk for entry in discovery.topics if any(m.retain for m in entry.messages)]
    stored = _stored_payloads(wanted) if wanted else {}
    dropped: set[int] = set()
    for entry in discovery.topics:
        entry.messages = _without_replays(entry.messages, stored.get(entry.row.pk), dropped)
    for name, messages in discovery.missing.items():
        discovery.missing[name] = _without_replays(messages, None, dropped)
    if not dropped:
        return
    discovery.topics = [entry for entry in discovery.topics if entry.messages]
    discovery.missing = {name: messages for name, messages in discovery.missing.items() if messages}
    part.messages = [message for message in part.messages if id(message) not in dropped]
    discovery.replays += len(dropped)
    logger.debug("connection %s: %d retained replays dropped", part.connection_id, len(dropped))


def _without_replays(messages: list[Message], last: tuple[bytes, int] | None, dropped: set[int]) -> list[Message]:
    """`messages` of one topic minus the retained ones equal to the payload before them (`last`: the stored
    sample and size, compared as it was stored: the first MQTT_PAYLOAD_SAMPLE_BYTES, and the length)."""
    if not any(message.retain for message in messages):
        return messages
    sample_bytes = settings.MQTT_PAYLOAD_SAMPLE_BYTES
    kept = []
    for message in messages:
        key = (message.payload[:sample_bytes], len(message.payload))
        if message.retain and key == last:
            dropped.add(id(message))
        else:
            kept.append(message)
        last = key
    return kept


def _stored_payloads(topic_ids: list[int]) -> dict[int, tuple[bytes, int]]:
    """(last payload sample, its full size) of these topics, where one is stored."""
    stored: dict[int, tuple[bytes, int]] = {}
    for start in range(0, len(topic_ids), IN_CHUNK):
        rows = MqttTopic.objects.filter(pk__in=topic_ids[start : start + IN_CHUNK]).values_list(
            "pk", "last_payload", "last_payload_size"
        )
        stored.update({pk: (bytes(payload), size) for pk, payload, size in rows if payload is not None})
    return stored


def create_missing(connection_id: int, discovery: Discovery) -> list[TopicBatch]:
    """Under the connection's lock: rows for the names that had none (claimed by a parser when one fits),
    capped. Returns the new entries (also added to `discovery.topics` and `discovery.new`)."""
    if not discovery.missing:
        return []
    grouped, discovery.missing = discovery.missing, {}
    rows, created = _create_topics(connection_id, grouped)
    entries = []
    for name in sorted(grouped):
        row = rows.get(name)
        if row is None:
            discovery.dropped_messages += len(grouped[name])
            continue
        entries.append(TopicBatch(row, grouped[name], is_new=name in created))
    discovery.topics += entries
    discovery.new += [entry for entry in entries if entry.is_new]
    return entries


def _existing_rows(wanted: dict[int, list[str]]) -> dict[int, dict[str, TopicRow]]:
    """The rows of these (connection, topic) pairs, with only what ingestion needs. Raw SQL: the ORM's
    `topic__in` spent ~30 ms preparing 140 names per batch. PostgreSQL: one join on two arrays for every
    connection of the batch (two parameters however many topics)."""
    rows: dict[int, dict[str, TopicRow]] = {cid: {} for cid in wanted}
    if not is_postgresql():
        for cid, names in wanted.items():
            rows[cid] = _rows_of(cid, names)
        return rows
    pairs = [(cid, name) for cid, names in wanted.items() for name in names]
    sql = (
        f"SELECT t.id, t.connection_id, t.topic, t.is_processable, t.parser_name FROM {table(MqttTopic)} AS t "  # noqa: S608
        "JOIN unnest(%s::bigint[], %b::text[]) AS v(c, n) ON t.connection_id = v.c AND t.topic = v.n"
    )
    for pk, cid, topic, processable, parser in pg_fetch(sql, [int_array(p[0] for p in pairs), [p[1] for p in pairs]]):
        rows[cid][topic] = TopicRow(pk, topic, bool(processable), parser)
    return rows


def _rows_of(connection_id: int, names: list[str]) -> dict[str, TopicRow]:
    select = f"SELECT id, topic, is_processable, parser_name FROM {table(MqttTopic)} WHERE connection_id = %s AND "  # noqa: S608
    rows: dict[str, TopicRow] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(names), IN_CHUNK):
            chunk = names[start : start + IN_CHUNK]
            if is_postgresql():
                cursor.execute(select + "topic = ANY(%s)", [connection_id, chunk])
            else:
                cursor.execute(select + f"topic IN ({', '.join(['%s'] * len(chunk))})", [connection_id, *chunk])
            for pk, topic, processable, parser in cursor.fetchall():
                rows[topic] = TopicRow(pk, topic, bool(processable), parser)
    return rows


def _create_topics(connection_id: int, grouped: dict[str, list[Message]]) -> tuple[dict[str, TopicRow], set[str]]:
    """The rows of these names, created where there are none (within the cap), and the names created."""
    storable = [name for name in grouped if len(name) <= MAX_TOPIC_LENGTH]
    for name in set(grouped) - set(storable):
        logger.warning(
            "connection %s: topic of %d characters not stored (max %d)", connection_id, len(name), MAX_TOPIC_LENGTH
        )
    # A name may have a row after all: created by another worker since this one read its topics, or a topic
    # this process had cached under an id since deleted and discovered again elsewhere. It needs no room.
    rows = _rows_of(connection_id, storable) if storable else {}
    new = [name for name in storable if name not in rows]
    room = settings.MQTT_MAX_TOPICS_PER_CONNECTION - MqttTopic.objects.filter(connection_id=connection_id).count()
    if len(new) > room:
        _warn_cap(connection_id, len(new) - max(room, 0))
        new = new[: max(room, 0)]
    if not new:
        return rows, set()
    # ignore_conflicts: a row another transaction created meanwhile is simply read back below.
    MqttTopic.objects.bulk_create([_new_row(connection_id, name, grouped[name]) for name in new], ignore_conflicts=True)
    rows.update(_rows_of(connection_id, new))
    return rows, set(new)


def _new_row(connection_id: int, name: str, messages: list[Message]) -> MqttTopic:
    first = messages[0]
    parser = claim_parser(name, first.payload)
    return MqttTopic(
        connection_id=connection_id,
        topic=name,
        is_processable=parser is not None,
        parser_name=parser or "",
        first_seen_at=first.received_at,
        last_seen_at=first.received_at,
    )


def claim_parser(topic: str, payload: bytes) -> str | None:
    """The name of the parser that claims a new topic, or None. A failing claim leaves the topic unparsed."""
    if len(payload) > settings.MQTT_MAX_PAYLOAD_BYTES:
        payload = b""  # never sniff a huge payload; topic filters still apply
    try:
        from mqtt_app.parsers import get_registry

        parser = get_registry().claim(topic, payload)
    except Exception:  # noqa: BLE001 - a broken recogniser must not lose the batch
        logger.exception("parser claim failed for topic %r", topic)
        return None
    return None if parser is None else parser.name


def _warn_cap(connection_id: int, over: int) -> None:
    if connection_id in _warned_cap:
        logger.debug("connection %s: %d more topics beyond the cap", connection_id, over)
        return
    _warned_cap.add(connection_id)
    logger.warning(
        "connection %s reached MQTT_MAX_TOPICS_PER_CONNECTION=%d: new topics are counted on the connection "
        "but not stored (%d in this batch)",
        connection_id,
        settings.MQTT_MAX_TOPICS_PER_CONNECTION,
        over,
    )


Current = dict[int, tuple[bool, str]]  # topic id -> (is_processable, parser_name) as the row is now


def apply_counters(topics: list[tuple[int, TopicBatch]]) -> Current:
    """Counts, last seen, sample, QoS and retained flag of every topic of the batch, in one round trip; returns
    the rows that still exist with their parser settings now. A topic deleted since `known_topics` read it is
    not among them (its readings must not be stored); one whose parser changed must be parsed again. Runs
    before the readings are written, under the connections' locks that every delete takes first
    (models/deletion.py), so what it returns stays true until commit. Error counts: `apply_errors`, once the
    parse is final. `topics`: (connection id, entry); the row must still belong to that connection.

    PostgreSQL: one UPDATE with the values as arrays. SQLite (in process): one statement per topic.
    Both measured far cheaper than `bulk_update`, whose CASE WHEN expressions Django resolves per row.
    """
    if not topics:
        return {}
    adapt = connection.ops.adapt_datetimefield_value
    sample_bytes = settings.MQTT_PAYLOAD_SAMPLE_BYTES
    rows = []
    for cid, entry in topics:
        latest = entry.messages[-1]
        seen = adapt(max(m.received_at for m in entry.messages))
        sample = None if entry.sample is None else entry.sample.payload[:sample_bytes]
        size = None if entry.sample is None else len(entry.sample.payload)
        rows.append((len(entry.messages), seen, latest.qos, latest.retain, sample, size, entry.row.pk, cid))
    if is_postgresql():
        # Eight arrays (eight parameters, however many topics): numbers and flags as literals (sql.int_array),
        # times and samples bound in binary.
        ns, seens, qoss, retains, samples, sizes, ids, cids = zip(*rows, strict=True)
        params = [int_array(ns), list(seens), int_array(qoss), int_array(retains), list(samples), int_array(sizes)]
        returned = pg_fetch(_unnest_update_sql(), [*params, int_array(ids), int_array(cids)])
    else:
        returned = []
        with connection.cursor() as cursor:
            for row in rows:
                cursor.execute(_update_sql(), row)
                returned += cursor.fetchall()
    return {pk: (bool(processable), parser) for pk, processable, parser in returned}


def apply_errors(topics: list[TopicBatch]) -> None:
    """error_count of the topics whose messages failed to parse in this batch (none in most batches)."""
    failed = [(entry.errors, entry.row.pk) for entry in topics if entry.errors]
    if not failed:
        return
    name = table(MqttTopic)
    if is_postgresql():
        sql = (
            f"UPDATE {name} AS t SET error_count = t.error_count + v.e "  # noqa: S608 - our own table name
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(e, id) WHERE t.id = v.id"
        )
        pg_fetch(sql, [int_array(f[0] for f in failed), int_array(f[1] for f in failed)])
        return
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {name} SET error_count = error_count + %s WHERE id = %s", failed)  # noqa: S608


def _unnest_update_sql() -> str:
    """PostgreSQL: one UPDATE for all the batch's topics, its values as arrays (eight parameters, however
    many topics: thousands of separate placeholders cost more to bind than the update itself)."""
    table = connection.ops.quote_name(MqttTopic._meta.db_table)
    return (
        f"UPDATE {table} AS t SET message_count = t.message_count + v.n, "  # noqa: S608
        "last_seen_at = GREATEST(t.last_seen_at, v.seen), last_qos = v.qos, retained = v.retained, "
        "last_payload = COALESCE(v.sample, t.last_payload), last_payload_size = COALESCE(v.size, t.last_payload_size) "
        "FROM unnest(%s::bigint[], %b::timestamptz[], %s::smallint[], %s::boolean[], %b::bytea[], %s::integer[], "
        "%s::bigint[], %s::bigint[]) AS v(n, seen, qos, retained, sample, size, id, c) "
        "WHERE t.id = v.id AND t.connection_id = v.c RETURNING t.id, t.is_processable, t.parser_name"
    )


def _update_sql() -> str:
    qn = connection.ops.quote_name
    table = qn(MqttTopic._meta.db_table)
    # An oversized-only batch has no sample (NULL): the previous sample stays. SQLite's two-argument MAX() is
    # GREATEST (Django stores these times as ISO text, which sorts as the times do).
    return (
        f"UPDATE {table} SET message_count = message_count + %s, last_seen_at = MAX(last_seen_at, %s), "  # noqa: S608
        "last_qos = %s, retained = %s, "
        "last_payload = COALESCE(%s, last_payload), last_payload_size = COALESCE(%s, last_payload_size) "
        "WHERE id = %s AND connection_id = %s RETURNING id, is_processable, parser_name"
    )
