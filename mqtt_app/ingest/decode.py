"""The listener's batch decoded into plain messages, bad entries skipped.

Two shapes are accepted:
- {"id", "listener", "parts": [{"connection_id", "messages": [...]}, ...]}: one batch for every connection a
  listener holds (what the listener sends);
- {"id", "connection_id", "listener", "messages": [...]}: one connection (what listeners sent before; a batch
  queued before an upgrade is still stored).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)


class BadBatch(ValueError):
    """The batch itself is unusable (no id, no connection): nothing in it can be stored."""


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_at: datetime


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

    @property
    def message_count(self) -> int:
        return sum(len(part.messages) for part in self.parts)

    @classmethod
    def single(cls, batch_id: uuid.UUID, connection_id: int, listener: str, messages: list[Message]) -> Batch:
        return cls(batch_id, listener, [Part(connection_id, messages)])


def decode_batch(raw: Any) -> Batch:
    """Check the envelope strictly (raises BadBatch) and each message leniently (a bad one is skipped)."""
    if not isinstance(raw, dict):
        raise BadBatch(f"a batch must be an object, got {type(raw).__name__}")
    try:
        batch_id = uuid.UUID(str(raw["id"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs a uuid 'id': {exc}") from None
    if "parts" in raw:
        entries = raw["parts"]
        if not isinstance(entries, list) or not entries:
            raise BadBatch("a batch's 'parts' must be a non-empty list")
    else:
        entries = [raw]  # the single-connection shape
    batch = Batch(batch_id, str(raw.get("listener", "")), [])
    by_connection: dict[int, Part] = {}
    for entry in entries:
        connection_id, messages = _envelope(entry)
        part = by_connection.get(connection_id)
        if part is None:  # two parts of one connection are merged: its rows are locked and counted once
            part = by_connection[connection_id] = Part(connection_id)
            batch.parts.append(part)
        _decode_messages(part, messages)
    skipped = sum(part.skipped for part in batch.parts)
    if skipped:
        logger.warning("batch %s: skipped %d malformed entries", batch_id, skipped)
    return batch


def _envelope(entry: Any) -> tuple[int, list]:
    if not isinstance(entry, dict):
        raise BadBatch(f"a batch part must be an object, got {type(entry).__name__}")
    try:
        connection_id = int(entry["connection_id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs an integer 'connection_id' in each part: {exc}") from None
    messages = entry.get("messages")
    if not isinstance(messages, list):
        raise BadBatch("a batch needs a 'messages' list in each part")
    return connection_id, messages


def _decode_messages(part: Part, entries: list) -> None:
    for entry in entries:
        message = decode_message(entry)
        if message is None:
            part.skipped += 1
        else:
            part.messages.append(message)


def decode_message(entry: Any) -> Message | None:
    try:
        topic = entry["topic"]
        payload = base64.b64decode(entry["payload"], validate=True)
        received_at = datetime.fromtimestamp(float(entry["received_at"]), tz=UTC)
        qos = int(entry.get("qos", 0))
        retain = bool(entry.get("retain", False))
    except (KeyError, TypeError, ValueError, OverflowError, OSError, binascii.Error):
        return None
    if not isinstance(topic, str) or not topic or "\x00" in topic:  # MQTT forbids NUL in topic names
        return None
    return Message(topic, payload, qos, retain, received_at)


def clean_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL: every string that comes from a payload goes through here."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def encode_message(topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, received_at: float) -> dict:
    """The wire form of one message (used by tests and the benchmark; the listener builds the same)."""
    return {
        "topic": topic,
        "payload": base64.b64encode(payload).decode("ascii"),
        "qos": qos,
        "retain": retain,
        "received_at": received_at,
    }
