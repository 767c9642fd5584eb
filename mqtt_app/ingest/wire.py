"""The ingest batch on the wire: built by the listener (`encode_part`, `encode_batch`), read by the worker
(`decode_batch`). One format, serialized with msgpack so payloads travel as raw bytes:

    {"id": uuid str, "listener": str, "sent_at": epoch seconds, "parts": [part, ...]}
    part: {"connection_id": int, "topics": [str], "payloads": [bytes], "qos": [int], "retain": [bool],
           "received_at": [epoch seconds], "sizes": [int] (only when the listener dropped a payload for its size)}

A part per connection the listener holds; the i-th entry of each column is the i-th message. Columns are cheap to
build on the listener (list concatenation, nothing per message) and cheap to read here. `sent_at` (when the
listener enqueued it) only times the batch's wait in the queue: a batch without it is stored all the same. A
payload over MQTT_MAX_PAYLOAD_BYTES travels as b"" with its received size in `sizes` (counted, never stored).

Decoding checks the envelope strictly (BadBatch: nothing in it can be stored) and each message leniently (a bad
one is skipped and counted).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

COLUMNS = ("topics", "payloads", "qos", "retain", "received_at")


class BadBatch(ValueError):
    """The batch itself is unusable (no id, no connection): nothing in it can be stored."""


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_at: datetime
    size: int = -1  # the payload's size as received when the listener dropped it for its size (payload b"")

    @property
    def received_size(self) -> int:
        return self.size if self.size >= 0 else len(self.payload)


@dataclass(slots=True)
class Part:
    """One connection's messages in a batch."""

    connection_id: int
    messages: list[Message] = field(default_factory=list)
    skipped: int = 0  # entries that were not even a message (counted, never stored)

    @property
    def received_range(self) -> tuple[datetime, datetime] | None:
        if not self.messages:
            return None
        times = [m.received_at for m in self.messages]
        return min(times), max(times)


@dataclass(slots=True)
class Batch:
    id: uuid.UUID
    listener: str
    parts: list[Part]
    sent_at: float | None = None

    @property
    def message_count(self) -> int:
        return sum(len(part.messages) for part in self.parts)

    @classmethod
    def single(cls, batch_id: uuid.UUID, connection_id: int, listener: str, messages: list[Message]) -> Batch:
        return cls(batch_id, listener, [Part(connection_id, messages)])


# --- encoding (the listener) -------------------------------------------------------------------------------
def encode_part(
    connection_id: int,
    topics: list[str],
    payloads: list[bytes],
    qos: list[int],
    retain: list[bool],
    received_at: list[float],
    sizes: list[int] | None = None,
) -> dict[str, Any]:
    """One connection's messages in columns (the lists are used as they are: no copy)."""
    part: dict[str, Any] = {
        "connection_id": connection_id,
        "topics": topics,
        "payloads": payloads,
        "qos": qos,
        "retain": retain,
        "received_at": received_at,
    }
    if sizes is not None:
        part["sizes"] = sizes
    return part


def encode_batch(listener: str, parts: list[dict[str, Any]], batch_id: uuid.UUID | str | None = None) -> dict:
    """The envelope, stamped with the time it leaves for the queue."""
    return {"id": str(batch_id or uuid.uuid4()), "listener": listener, "sent_at": time.time(), "parts": parts}


def encode_messages(
    connection_id: int, messages: Sequence[tuple[str, bytes]], *, qos: int = 1, retain: bool = False, at: float
) -> dict[str, Any]:
    """`encode_part` for (topic, payload) pairs received a millisecond apart from `at` (tests, tools)."""
    count = len(messages)
    return encode_part(
        connection_id,
        [topic for topic, _ in messages],
        [payload for _, payload in messages],
        [qos] * count,
        [retain] * count,
        [at + index / 1000 for index in range(count)],
    )


# --- decoding (the worker) ---------------------------------------------------------------------------------
def decode_batch(raw: Any) -> Batch:  # noqa: ANN401 - whatever the queue held
    """Check the envelope strictly (raises BadBatch) and each message leniently (a bad one is skipped)."""
    if not isinstance(raw, dict):
        raise BadBatch(f"a batch must be an object, got {type(raw).__name__}")
    try:
        batch_id = uuid.UUID(str(raw["id"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs a uuid 'id': {exc}") from None
    entries = raw.get("parts")
    if not isinstance(entries, list) or not entries:
        raise BadBatch("a batch's 'parts' must be a non-empty list")
    batch = Batch(batch_id, str(raw.get("listener", "")), [], _epoch(raw.get("sent_at")))
    by_connection: dict[int, Part] = {}
    for entry in entries:
        connection_id = _connection_id(entry)
        part = by_connection.get(connection_id)
        if part is None:  # two parts of one connection are merged: its rows are locked and counted once
            part = by_connection[connection_id] = Part(connection_id)
            batch.parts.append(part)
        _decode_columns(part, entry)
    skipped = sum(part.skipped for part in batch.parts)
    if skipped:
        logger.warning("batch %s: skipped %d malformed entries", batch_id, skipped)
    return batch


def _epoch(value: Any) -> float | None:  # noqa: ANN401 - whatever the wire held
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value)


def _connection_id(entry: Any) -> int:  # noqa: ANN401 - whatever the wire held
    if not isinstance(entry, dict):
        raise BadBatch(f"a batch part must be an object, got {type(entry).__name__}")
    try:
        return int(entry["connection_id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs an integer 'connection_id' in each part: {exc}") from None


def _decode_columns(part: Part, entry: dict) -> None:
    """Columns of one length, checked like the envelope; each message like one entry."""
    columns: list[Any] = [entry.get(name) for name in COLUMNS]
    if not all(isinstance(column, list) for column in columns):
        raise BadBatch(f"a batch part needs the lists {', '.join(COLUMNS)}")
    if len({len(column) for column in columns}) != 1:
        raise BadBatch("a batch part's message columns differ in length")
    sizes: Any = entry.get("sizes")
    if not isinstance(sizes, list) or len(sizes) != len(columns[0]):
        sizes = itertools.repeat(-1)  # the usual case: no payload was dropped by the listener
    stamps: dict[float, datetime] = {}  # one read's messages share their receive time: convert it once
    append = part.messages.append
    for topic, payload, qos, retain, received_at, size in zip(*columns, sizes, strict=False):
        if type(payload) is not bytes or not valid_topic(topic):
            part.skipped += 1
            continue
        try:
            when = stamps.get(received_at)
            if when is None:
                when = stamps[received_at] = datetime.fromtimestamp(float(received_at), tz=UTC)
            qos = int(qos)
        except (TypeError, ValueError, OverflowError, OSError):
            part.skipped += 1
            continue
        append(Message(topic, payload, qos, bool(retain), when, size if type(size) is int else -1))


def valid_topic(topic: Any) -> bool:  # noqa: ANN401 - whatever the wire held
    return type(topic) is str and bool(topic) and "\x00" not in topic  # MQTT forbids NUL in topic names
