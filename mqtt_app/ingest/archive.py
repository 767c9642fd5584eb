"""The raw-message archive's side of ingestion: which topics keep their payloads, and writing them in the
batch's transaction (mqtt_app/models/raw.py).

Which topics archive is read from the database at most every REFRESH_SECONDS per process (a topic's own
`keep_raw_days`, else its connection's): a changed setting applies to the batches stored from then on, and a
process with no archiving anywhere spends one dictionary lookup per batch part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection

from mqtt_app.models import MqttConnection, MqttTopic, RawMessage
from mqtt_app.refreshed import Refreshed

from . import partitions
from .sql import copy_rows, delete_in_chunks
from .topics import TopicBatch

REFRESH_SECONDS = 5.0
COPY_TYPES = ("int8", "int8", "timestamptz", "bytea", "int2", "bool")
COLUMNS = ("connection_id", "topic_id", "received_at", "payload", "qos", "retain")


@dataclass
class Policy:
    connections: dict[int, int] = field(default_factory=dict)  # connection id: keep_raw_days (> 0 only)
    topics: dict[int, int] = field(default_factory=dict)  # topic id: its own keep_raw_days (0 included)
    touched: set[int] = field(default_factory=set)  # connections with any archiving topic or default

    def days(self, connection_id: int, topic_id: int) -> int:
        """The topic's own setting, else its connection's."""
        days = self.topics.get(topic_id)
        return self.connections.get(connection_id, 0) if days is None else days

    def keeps(self, connection_id: int, topic_id: int) -> bool:
        return self.days(connection_id, topic_id) > 0


def read_policy() -> Policy:
    connections = dict(MqttConnection.objects.filter(keep_raw_days__gt=0).values_list("pk", "keep_raw_days"))
    own = MqttTopic.objects.filter(keep_raw_days__isnull=False).values_list("pk", "keep_raw_days")
    topics = {pk: days for pk, days in own if days is not None}
    touched = set(connections) | set(
        MqttTopic.objects.filter(keep_raw_days__gt=0).values_list("connection_id", flat=True).distinct()
    )
    return Policy(connections, topics, touched)


policy: Refreshed[Policy] = Refreshed(read_policy, REFRESH_SECONDS, Policy())


def archive(connection_id: int, entries: list[TopicBatch]) -> int:
    """Keep the payloads of this connection's archived topics (in the caller's transaction). Payloads the listener
    dropped for their size are not here to keep. Returns how many were written."""
    current = policy.get()
    if connection_id not in current.touched:
        return 0
    rows = [
        (connection_id, entry.row.pk, m.received_at, m.payload, m.qos, m.retain)
        for entry in entries
        if current.keeps(connection_id, entry.row.pk)
        for m in entry.messages
        if m.size < 0
    ]
    if rows:
        save(rows)
    return len(rows)


def save(rows: list[tuple]) -> None:
    if connection.vendor != "postgresql":
        RawMessage.objects.bulk_create([RawMessage(**dict(zip(COLUMNS, row, strict=True))) for row in rows], 1000)
        return
    copy_rows(RawMessage, COLUMNS, COPY_TYPES, rows)


def archived_topic_ids() -> list[int]:
    """The topics with anything archived. PostgreSQL: a loose index scan (one index probe per topic), not a scan
    of the archive."""
    if connection.vendor != "postgresql":
        return list(RawMessage.objects.values_list("topic_id", flat=True).distinct())
    table = connection.ops.quote_name(RawMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE t(id) AS (SELECT min(topic_id) FROM {table} UNION ALL "  # noqa: S608 - our own name
            f"SELECT (SELECT min(topic_id) FROM {table} WHERE topic_id > t.id) FROM t WHERE t.id IS NOT NULL) "
            "SELECT id FROM t WHERE id IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def expire(now: datetime, chunk: int) -> int:
    """Archived payloads older than their topic's keep_raw_days (0: all of them) go: on PostgreSQL whole
    partitions past the longest setting are dropped, then what is left past each topic's own, chunk by chunk."""
    current = read_policy()
    longest = max([*current.connections.values(), *current.topics.values(), 0])
    partitions.raw_messages.ensure(now)
    _, dropped = partitions.raw_messages.drop_expired(now - timedelta(days=longest))
    by_days: dict[int, list[int]] = {}
    topic_rows = MqttTopic.objects.filter(pk__in=archived_topic_ids()).values_list("pk", "connection_id")
    for topic_id, connection_id in topic_rows:
        by_days.setdefault(current.days(connection_id, topic_id), []).append(topic_id)
    stale = [RawMessage.objects.filter(topic_id__in=ids, received_at__lt=now - timedelta(days=days))
             for days, ids in by_days.items()]  # fmt: skip
    return dropped + sum(delete_in_chunks(rows, chunk) for rows in stale)
