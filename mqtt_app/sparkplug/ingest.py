"""Sparkplug messages of one connection's batch applied in order: readings, or a ParseFailure, per message."""

from __future__ import annotations

import logging
from typing import Any

from mqtt_app.parsers.base import PARSER_EXCEPTION, ParseFailure, Reading
from mqtt_app.parsers.registry import checked_readings

from . import rebirth
from .state import SparkplugBook
from .topic import SparkplugTopic, parse_topic

logger = logging.getLogger(__name__)
PARSER = "sparkplug"


def apply_messages(connection_id: int, items: list[tuple[Any, Any]]) -> list[list[Reading] | ParseFailure]:
    """`items`: (TopicBatch, Message) in the order received. One outcome per item, in the same order; the
    state they changed is written before returning."""
    topics: list[SparkplugTopic | ParseFailure] = []
    for _, message in items:
        try:
            topics.append(parse_topic(message.topic))
        except ParseFailure as failure:
            topics.append(failure)
    book = SparkplugBook(connection_id, [t for t in topics if isinstance(t, SparkplugTopic)])
    outcomes: list[list[Reading] | ParseFailure] = []
    for (_, message), topic in zip(items, topics, strict=True):
        outcomes.append(topic if isinstance(topic, ParseFailure) else _apply(book, topic, message))
    book.save()
    if book.lost:
        rebirth.after_commit(connection_id, book.lost)
    return outcomes


def _apply(book: SparkplugBook, topic: SparkplugTopic, message: Any) -> list[Reading] | ParseFailure:
    try:
        readings = book.apply(topic, message.payload, message.received_at)
        return checked_readings(readings, PARSER, message.received_at)
    except ParseFailure as failure:
        failure.parser = failure.parser or PARSER
        return failure
    except Exception as exc:  # noqa: BLE001 - a bug met by one message is that message's parse error
        logger.debug("sparkplug raised on topic %r", message.topic, exc_info=True)
        return ParseFailure(PARSER_EXCEPTION, f"{type(exc).__name__}: {exc}"[:500], PARSER)
