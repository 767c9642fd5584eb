"""Sparkplug B messages applied, in the order they were received, to the edge node and device state.

A `SparkplugBook` is one batch's view of one connection: the rows of the edge nodes and devices its messages
name are read once, changed in memory message by message, and written back once (`save`),
all inside the batch's transaction under the connection's lock (mqtt_app/ingest/service.py). A message
that fails (bad payload, a datatype that does not match its value) changes nothing.

- NBIRTH: the node is online, its bdSeq and BIRTH certificate (names, aliases, datatypes, units) replace the
  old ones, its seq starts again. DBIRTH: the same for a device.
- NDEATH: the node and its devices go offline, unless its bdSeq is not the current session's: an NDEATH
  of an older session (delivered late, e.g. the broker's will of a connection the node already replaced)
  is counted as stale and changes nothing. DDEATH: the device goes offline.
- seq: every message of a node after its NBIRTH (node and device messages alike) must carry the next seq
  (mod 256); a jump is a gap, counted on the edge node.
- DATA: metrics resolved by alias (or by name) through the certificate; DATA before any BIRTH is counted,
  its named metrics are stored, its alias-only metrics are counted as unresolved.
- NCMD, DCMD: commands to the node, decoded (a broken one is a parse error) but not telemetry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection

from mqtt_app.models import SparkplugHost, SparkplugNode
from mqtt_app.parsers.base import ParseFailure, Reading

from .topic import STATE, SparkplugTopic
from .values import BD_SEQ, MetricDef, decode_payload, metric_def, metric_readings, timestamp_of

Key = tuple[str, str, str]
REBIRTH_FIELDS = ("rebirths_requested", "last_rebirth_request_at")  # rebirth.py's, written after the commit
UPDATED_FIELDS = [
    field.name
    for field in SparkplugNode._meta.concrete_fields
    if field.name not in ("id", "connection", "group", "edge_node", "device", *REBIRTH_FIELDS)
]
# Without the certificate: a batch of DATA leaves it as it is, and it may hold thousands of metrics.
STATE_FIELDS = [name for name in UPDATED_FIELDS if name != "metrics"]


class Certificate:
    """A row's BIRTH certificate, indexed by alias and by name."""

    def __init__(self, metrics: list[dict[str, Any]]) -> None:
        defs = [MetricDef.from_dict(item) for item in metrics]
        self.by_alias = {d.alias: d for d in defs if d.alias is not None}
        self.by_name = {d.name: d for d in defs}

    def resolve(self, metric: Any) -> MetricDef | None:  # a pb Metric
        if metric.HasField("alias"):
            found = self.by_alias.get(metric.alias)
            if found is not None or not metric.name:
                return found
        return self.by_name.get(metric.name)


class SparkplugBook:
    def __init__(self, connection_id: int, topics: list[SparkplugTopic]) -> None:
        self.connection_id = connection_id
        named = [t for t in topics if t.message_type != STATE]
        self.rows: dict[Key, SparkplugNode] = {}
        if named:
            # The rows the batch names (a superset: the three columns are filtered apart), not every device of
            # its edge nodes: an NDEATH reaches the others with one UPDATE (`_node_death`).
            query = SparkplugNode.objects.filter(
                connection_id=connection_id,
                group__in={t.group for t in named},
                edge_node__in={t.edge_node for t in named},
                device__in={t.device for t in named} | {""},
            )
            self.rows = {(row.group, row.edge_node, row.device): row for row in query}
        self.certificates: dict[Key, Certificate] = {}
        self.dirty: set[Key] = set()
        self.reborn: set[Key] = set()  # rows whose certificate this batch replaced
        self.lost: set[tuple[str, str]] = set()  # (group, edge node) whose state this batch found incomplete

    # --- one message ------------------------------------------------------------------------------------
    def apply(self, topic: SparkplugTopic, data: bytes, received_at: datetime) -> list[Reading]:
        """The message's readings; its changes to the state are made only once it has decoded whole."""
        kind = topic.message_type
        if kind == STATE:
            self._host_state(topic.edge_node, data, received_at)
            return []
        payload = decode_payload(data)
        if kind in ("NCMD", "DCMD"):
            return []
        sent_at = timestamp_of(payload.timestamp, "timestamp") if payload.HasField("timestamp") else received_at
        node = self._row(topic.group, topic.edge_node, "")
        if kind == "NBIRTH":
            return self._birth(node, topic, payload, sent_at, received_at)
        if kind == "NDEATH":
            self._node_death(node, payload, received_at)
            return []
        row = node if not topic.device else self._row(topic.group, topic.edge_node, topic.device)
        if kind == "DBIRTH":
            readings = self._birth(row, topic, payload, sent_at, received_at)
        elif kind == "DDEATH":
            readings = []
            row.is_online, row.last_death_at = False, received_at
        else:
            readings = self._data(row, topic, payload, sent_at)
        self._sequence(node, payload)
        row.last_message_at = node.last_message_at = received_at
        self._touch(node, row)
        return readings

    def _birth(
        self, row: SparkplugNode, topic: SparkplugTopic, payload: Any, sent_at: datetime, received_at: datetime
    ) -> list[Reading]:
        defs = [metric_def(metric, index) for index, metric in enumerate(payload.metrics)]
        readings = metric_readings(topic.source, payload.metrics, defs, sent_at, skip_bd_seq=not topic.device)
        if not topic.device:
            row.bd_seq = _bd_seq(payload)
            row.last_seq = payload.seq if payload.HasField("seq") else 0
        row.metrics = [d.as_dict() for d in defs]
        row.is_online, row.births, row.last_birth_at = True, row.births + 1, received_at
        row.last_message_at = received_at
        self.certificates.pop(_key(row), None)
        self.reborn.add(_key(row))
        self._touch(row)
        return readings

    def _node_death(self, node: SparkplugNode, payload: Any, received_at: datetime) -> None:
        bd_seq = _bd_seq(payload)
        node.last_message_at = received_at
        if bd_seq is not None and node.bd_seq is not None and bd_seq != node.bd_seq:
            node.stale_deaths += 1  # the will of a session the node has already replaced
        else:
            node.is_online, node.last_death_at = False, received_at
            SparkplugNode.objects.filter(
                connection_id=self.connection_id, group=node.group, edge_node=node.edge_node, is_online=True
            ).exclude(device="").update(is_online=False, last_death_at=received_at)
            for key, row in self.rows.items():  # the devices read: their rows are written back at the end
                if key[:2] == (node.group, node.edge_node) and key[2] and row.is_online:
                    row.is_online, row.last_death_at = False, received_at
                    self._touch(row)
        self._touch(node)

    def _data(self, row: SparkplugNode, topic: SparkplugTopic, payload: Any, sent_at: datetime) -> list[Reading]:
        certificate = self._certificate(row)
        resolved = [certificate.resolve(metric) for metric in payload.metrics]
        readings = metric_readings(topic.source, payload.metrics, resolved, sent_at)
        unresolved = sum(
            1 for metric, found in zip(payload.metrics, resolved, strict=True) if found is None and not metric.name
        )
        row.unresolved_metrics += unresolved
        if not row.births:
            row.data_before_birth += 1
        if unresolved or not row.births:
            self.lost.add((row.group, row.edge_node))
        return readings

    def _sequence(self, node: SparkplugNode, payload: Any) -> None:
        if not payload.HasField("seq"):
            return
        if node.births and node.last_seq is not None and payload.seq != (node.last_seq + 1) % 256:
            node.seq_gaps += 1
            self.lost.add((node.group, node.edge_node))
        node.last_seq = payload.seq % 256

    def _host_state(self, host: str, data: bytes, received_at: datetime) -> None:
        online, timestamp = _host_payload(data)
        SparkplugHost.objects.update_or_create(
            connection_id=self.connection_id,
            host=host,
            defaults={"is_online": online, "timestamp": timestamp, "updated_at": received_at},
        )

    # --- rows -------------------------------------------------------------------------------------------
    def _row(self, group: str, edge_node: str, device: str) -> SparkplugNode:
        key = (group, edge_node, device)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = SparkplugNode(
                connection_id=self.connection_id, group=group, edge_node=edge_node, device=device
            )
        return row

    def _certificate(self, row: SparkplugNode) -> Certificate:
        key = _key(row)
        certificate = self.certificates.get(key)
        if certificate is None:
            certificate = self.certificates[key] = Certificate(row.metrics)
        return certificate

    def _touch(self, *rows: SparkplugNode) -> None:
        self.dirty.update(_key(row) for row in rows)

    def save(self) -> None:
        """Write back what the batch changed: new rows in one INSERT, the others in an UPDATE or two (the
        certificate only where a BIRTH replaced it)."""
        changed = [self.rows[key] for key in sorted(self.dirty)]
        new = [row for row in changed if row.pk is None]
        reborn = [row for row in changed if row.pk is not None and _key(row) in self.reborn]
        others = [row for row in changed if row.pk is not None and _key(row) not in self.reborn]
        SparkplugNode.objects.bulk_create(new)
        _update(reborn, UPDATED_FIELDS)
        _update(others, STATE_FIELDS)
        self.dirty.clear()
        self.reborn.clear()


def _update(rows: list[SparkplugNode], names: list[str]) -> None:
    """One UPDATE a row, sent as one batch (executemany): Django's bulk_update builds a CASE per field and
    row, which cost ten times the rest of a batch's Sparkplug work."""
    if not rows:
        return
    fields: list[Any] = [SparkplugNode._meta.get_field(name) for name in names]
    columns = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    sql = f"UPDATE {connection.ops.quote_name(SparkplugNode._meta.db_table)} SET {columns} WHERE id = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields] + [row.pk] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _key(row: SparkplugNode) -> Key:
    return (row.group, row.edge_node, row.device)


def _bd_seq(payload: Any) -> int | None:
    for metric in payload.metrics:
        if metric.name == BD_SEQ:
            field = metric.WhichOneof("value")
            if field in ("int_value", "long_value"):
                return int(getattr(metric, field))
    return None


def _host_payload(data: bytes) -> tuple[bool, datetime | None]:
    """Sparkplug 3.0's {"online": bool, "timestamp": ms}, or 2.2's plain ONLINE / OFFLINE."""
    text = data.decode("utf-8", errors="replace").strip()
    if text in ("ONLINE", "OFFLINE"):
        return text == "ONLINE", None
    try:
        state = json.loads(text)
    except ValueError:
        state = None
    if not isinstance(state, dict) or not isinstance(state.get("online"), bool):
        raise ParseFailure.invalid("online", 'a STATE payload is {"online": bool, "timestamp": ms}', "sparkplug_state")
    stamp = state.get("timestamp")
    timestamp = timestamp_of(stamp, "timestamp") if isinstance(stamp, int) and not isinstance(stamp, bool) else None
    return state["online"], timestamp
