"""The listener's batch decoded into plain messages, bad entries skipped.

The envelope: {"id", "listener", "sent_at", "parts": [part, ...]}, a part per connection the listener holds, or
{"id", "connection_id", "listener", "messages": [...]}, one connection (what listeners sent before).
`sent_at` (epoch seconds, when the listener enqueued it) only times the batch's wait in the queue; a batch
without it, or with something else there, is stored all the same.
A part's messages come in one of two forms:
- columns (what the listener sends, serialized with msgpack): {"connection_id", "topics": [str],
  "payloads": [bytes], "qos": [int], "retain": [bool], "received_at": [float]}, the i-th entry of each list
  being the i-th message. Cheap to build and to encode on the listener, cheap to read here. A payload may
  also be a base64 string (a JSON-serialized batch cannot carry bytes);
- {"connection_id", "messages": [{"topic", "payload" (base64), "qos", "retain", "received_at"}, ...]}: what
  listeners sent before; a batch queued before an upgrade is still stored.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import math
import re
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
    batch = Batch(batch_id, str(raw.get("listener", "")), [], _epoch(raw.get("sent_at")))
    by_connection: dict[int, Part] = {}
    for entry in entries:
        connection_id = _connection_id(entry)
        part = by_connection.get(connection_id)
        if part is None:  # two parts of one connection are merged: its rows are locked and counted once
            part = by_connection[connection_id] = Part(connection_id)
            batch.parts.append(part)
        if "topics" in entry:
            _decode_columns(part, entry)
        else:
            _decode_messages(part, _messages(entry))
    skipped = sum(part.skipped for part in batch.parts)
    if skipped:
        logger.warning("batch %s: skipped %d malformed entries", batch_id, skipped)
    return batch


def _epoch(value: Any) -> float | None:  # noqa: ANN401 - whatever the wire held
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value)


def _connection_id(entry: Any) -> int:
    if not isinstance(entry, dict):
        raise BadBatch(f"a batch part must be an object, got {type(entry).__name__}")
    try:
        return int(entry["connection_id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBatch(f"a batch needs an integer 'connection_id' in each part: {exc}") from None


def _messages(entry: dict) -> list:
    messages = entry.get("messages")
    if not isinstance(messages, list):
        raise BadBatch("a batch needs a 'messages' list (or the message columns) in each part")
    return messages


COLUMNS = ("topics", "payloads", "qos", "retain", "received_at")


def _decode_columns(part: Part, entry: dict) -> None:
    """The column form: checked like the envelope (columns of one length), each message like one entry."""
    columns = [entry.get(name) for name in COLUMNS]
    if not all(isinstance(column, list) for column in columns):
        raise BadBatch(f"a batch part needs the lists {', '.join(COLUMNS)}")
    if len({len(column) for column in columns}) != 1:
        raise BadBatch("a batch part's message columns differ in length")
    sizes = entry.get("sizes")
    if not isinstance(sizes, list) or len(sizes) != len(columns[0]):
        sizes = itertools.repeat(-1)  # the usual case: no payload was dropped by the listener
    stamps: dict[float, datetime] = {}  # one read's messages share their receive time: convert it once
    append = part.messages.append
    for topic, payload, qos, retain, received_at, size in zip(*columns, sizes, strict=False):
        try:
            if type(payload) is not bytes:
                payload = base64.b64decode(payload, validate=True)
            when = stamps.get(received_at)
            if when is None:
                when = stamps[received_at] = datetime.fromtimestamp(float(received_at), tz=UTC)
            qos = int(qos)
        except (TypeError, ValueError, OverflowError, OSError, binascii.Error):
            part.skipped += 1
            continue
        if not valid_topic(topic):
            part.skipped += 1
            continue
        append(Message(topic, payload, qos, bool(retain), when, size if type(size) is int else -1))


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
    if not valid_topic(topic):
        return None
    return Message(topic, payload, qos, retain, received_at)


def valid_topic(topic: Any) -> bool:  # noqa: ANN401 - whatever the wire held
    return type(topic) is str and bool(topic) and "\x00" not in topic  # MQTT forbids NUL in topic names


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """What no database text column can hold, replaced by U+FFFD: NUL (PostgreSQL) and lone surrogates (JSON's
    "\\ud800" decodes to one; UTF-8 cannot encode it). Every string that comes from a payload goes through here."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def encode_message(topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, received_at: float) -> dict:
    """The wire form of one message (used by tests and the benchmark; the listener builds the same)."""
    return {
        "topic": topic,
        "payload": base64.b64encode(payload).decode("ascii"),
        "qos": qos,
        "retain": retain,
        "received_at": received_at,
    }
