"""Run each processable topic's parser over its messages: readings out, or a Failure per message."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings

from mqtt_app.models import ParseErrorKind
from mqtt_app.parsers import ParseFailure

from .errors import Failure, excerpt, parsing_logger
from .persist import build_row
from .text import clean_text
from .topics import TopicBatch
from .wire import Message, Part

logger = logging.getLogger(__name__)

SPARKPLUG = "sparkplug"  # the parser whose messages depend on earlier ones (births): see `parse_in_order`


@dataclass
class Parsed:
    rows: list[tuple] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    oversized: int = 0
    oversized_topics: set[int] = field(default_factory=set)
    # Messages of stateful parsers (Sparkplug), applied in order under the batch's lock (`parse_in_order`).
    deferred: list[tuple[TopicBatch, Message]] = field(default_factory=list)

    def merge(self, other: Parsed) -> None:
        self.rows += other.rows
        self.failures += other.failures
        self.oversized += other.oversized
        self.oversized_topics |= other.oversized_topics
        self.deferred += other.deferred

    def drop_topics(self, gone: set[int]) -> None:
        """Forget what belongs to these topics: deleted, or to be parsed again, since the batch was parsed
        (readings: column 1 is topic_id)."""
        self.rows = [row for row in self.rows if row[1] not in gone]
        self.failures = [failure for failure in self.failures if failure.topic.pk not in gone]
        self.deferred = [item for item in self.deferred if item[0].row.pk not in gone]


def parse_topics(connection_id: int, topics: list[TopicBatch]) -> Parsed:
    from mqtt_app.parsers import get_registry

    registry = get_registry()
    result = Parsed()
    limit = settings.MQTT_MAX_PAYLOAD_BYTES
    for entry in topics:
        row = entry.row
        parse = row.is_processable and row.parser_name
        in_order = parse == SPARKPLUG
        for message in entry.messages:
            if len(message.payload) > limit or message.size > limit:
                _oversized(connection_id, entry, message, result)
                continue
            entry.sample = message
            if in_order:
                result.deferred.append((entry, message))
            elif parse:
                _parse_one(registry, connection_id, entry, message, result)
    return result


def parse_in_order(connection_id: int, part: Part, result: Parsed) -> None:
    """Apply the deferred Sparkplug messages in the order they were received (across topics: an NBIRTH and
    the NDATA after it are two topics) to the connection's state; in the batch's transaction, under the
    connection's lock, so a redelivered batch, rolled back as a duplicate, changes no state."""
    if not result.deferred:
        return
    from mqtt_app.sparkplug.ingest import apply_messages

    position = {id(message): index for index, message in enumerate(part.messages)}
    items = sorted(result.deferred, key=lambda item: position.get(id(item[1]), -1))
    result.deferred = []
    for (entry, message), outcome in zip(items, apply_messages(connection_id, items), strict=True):
        if isinstance(outcome, ParseFailure):
            _fail(
                connection_id, entry, result, message, outcome.kind, outcome.message, outcome.location, outcome.errors
            )
        else:
            pk, received_at = entry.row.pk, message.received_at
            result.rows.extend(build_row(connection_id, pk, reading, received_at) for reading in outcome)


def _parse_one(registry, connection_id: int, entry: TopicBatch, message: Message, result: Parsed) -> None:  # noqa: ANN001
    row = entry.row
    received_at = message.received_at
    try:
        readings = registry.run(row.parser_name, row.topic, message.payload, received_at)
    except ParseFailure as exc:
        _fail(
            connection_id,
            entry,
            result,
            message,
            exc.kind,
            str(getattr(exc, "message", exc)),
            getattr(exc, "location", ""),
            list(getattr(exc, "errors", None) or []),
        )
        return
    except Exception as exc:  # noqa: BLE001 - a parser bug is recorded like a validation failure
        # Recorded and logged once per group by errors.py; the traceback only at debug level (no flood).
        logger.debug("parser %s raised on topic %r", row.parser_name, row.topic, exc_info=True)
        _fail(
            connection_id,
            entry,
            result,
            message,
            ParseErrorKind.PARSER_EXCEPTION,
            f"{type(exc).__name__}: {exc}",
            "",
            [],
        )
        return
    # Once per reading, several per message (the hot loop of a batch). The latest value per metric for the
    # live events is found from these rows later, and only for connections someone watches (live.py).
    pk, append = row.pk, result.rows.append
    for reading in readings:
        append(build_row(connection_id, pk, reading, received_at))


def _fail(
    connection_id: int,
    entry: TopicBatch,
    result: Parsed,
    message: Message,
    kind: str,
    text: str,
    location: str,
    details: list,
) -> None:
    entry.errors += 1
    result.failures.append(
        Failure(
            topic=entry.row,
            parser=entry.row.parser_name,
            kind=str(kind),
            message=clean_text(text[:2000]),
            payload=message.payload,
            at=message.received_at,
            location=clean_text(str(location or "")[:255]),
            details=_clean_details(details),
            connection_id=connection_id,
        )
    )


def _clean_details(details: list) -> list[dict]:
    """Pydantic error dicts may carry non-JSON values (`input`, `ctx`): keep loc, msg, type as strings."""
    out = []
    for item in details[:20]:
        if isinstance(item, dict):
            loc = item.get("loc", "")
            loc = ".".join(str(p) for p in loc) if isinstance(loc, list | tuple) else str(loc)
            out.append(
                {
                    "loc": clean_text(loc),
                    "msg": clean_text(str(item.get("msg", ""))[:500]),
                    "type": str(item.get("type", "")),
                }
            )
    return out


def _oversized(connection_id: int, entry: TopicBatch, message: Message, result: Parsed) -> None:
    """Counted (topic and connection), logged, not stored. A topic meant to be parsed also records a failure."""
    result.oversized += 1
    if entry.row.is_processable and entry.row.parser_name:
        limit = settings.MQTT_MAX_PAYLOAD_BYTES
        _fail(
            connection_id,
            entry,
            result,
            message,
            ParseErrorKind.TOO_LARGE,
            f"payload of {message.received_size} bytes is over MQTT_MAX_PAYLOAD_BYTES={limit}",
            "",
            [],
        )
    elif entry.row.pk not in result.oversized_topics:  # one line per topic per batch
        result.oversized_topics.add(entry.row.pk)
        parsing_logger.warning(
            "connection=%s topic=%s: payload of %d bytes skipped (over %d) payload=%r",
            connection_id,
            entry.row.topic,
            message.received_size,
            settings.MQTT_MAX_PAYLOAD_BYTES,
            excerpt(message.payload, 80),
        )
