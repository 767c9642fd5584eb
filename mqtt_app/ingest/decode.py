"""The listener's batch (see the brief's contract) decoded into plain messages, bad entries skipped."""
from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
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
class Batch:
    id: uuid.UUID
    connection_id: int
    listener: str
    messages: list[Message]
    skipped: int = 0  # entries that were not even a message (counted, never stored)

    @property
    def received_range(self) -> tuple[datetime, datetime] | None:
        if not self.messages:
            return None
        times = [m.received_at for m in self.messages]
        return min(times), max(times)


def decode_batch(raw: Any) -> Batch:
    """Check the envelope strictly (raises BadBatch) and each message leniently (a bad one is skipped)."""
    if not isinstance(raw, dict):
        raise BadBatch(f"a batch must be an object, got {type(raw).__name__}")
    try:
        batch_id = uuid.UUID(str(raw["id"]))
        connection_id = int(raw["connection_id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs a uuid 'id' and an integer 'connection_id': {exc}") from None
    entries = raw.get("messages")
    if not isinstance(entries, list):
        raise BadBatch("a batch needs a 'messages' list")
    batch = Batch(batch_id, connection_id, str(raw.get("listener", "")), [])
    for entry in entries:
        message = decode_message(entry)
        if message is None:
            batch.skipped += 1
        else:
            batch.messages.append(message)
    if batch.skipped:
        logger.warning("batch %s: skipped %d malformed entries", batch_id, batch.skipped)
    return batch


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
