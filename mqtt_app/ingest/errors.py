"""Parse failures, grouped: the same failure repeated within MQTT_PARSE_ERROR_GROUP_WINDOW seconds bumps one
MqttParsingLog row (count, last_seen_at) instead of adding rows, so a broken device cannot flood the database.
Each group also gets one line per batch on the "mqtt.parsing" logger (payload truncated).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F

from mqtt_app.models import MqttParsingLog

from .grouping import group_location
from .text import clean_text
from .topics import TopicRow

parsing_logger = logging.getLogger("mqtt.parsing")

LOG_PAYLOAD_CHARS = 200
EXCERPT_BYTES = 1024


@dataclass(slots=True)
class Failure:
    """One message that could not be parsed (or was too large to try)."""

    topic: TopicRow
    parser: str
    kind: str
    message: str
    payload: bytes
    at: datetime
    location: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    connection_id: int = 0


@dataclass(slots=True)
class GroupChange:
    """A group this batch created or grew, for the live ParsingErrorEvent."""

    connection_id: int
    row: MqttParsingLog
    added: int
    created: bool
    total: int  # the group's count after this batch (exact: a connection's batches are serialised)


def fingerprint(connection_id: int, topic: str, parser: str, kind: str, location: str) -> str:
    """The group key of a failure. Positions the device controls stay out of it (the row keeps the location): a
    JSON syntax error counts by kind only (its line and column move with every payload), and array indices in a
    validation error's path count as one ('e.17.v' -> 'e.*.v'), so one broken device makes one group, not one
    per column or per array element."""
    key = "\x00".join([str(connection_id), topic, parser, kind, group_location(kind, location)])
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def excerpt(payload: bytes, limit: int) -> str:
    text = clean_text(payload[:limit].decode("utf-8", errors="replace"))
    return text + ("…" if len(payload) > limit else "")


def record_failures(failures: list[Failure], now: datetime) -> list[GroupChange]:
    """Grow the open groups and create the new ones, in two bulk queries plus one lookup, for every connection
    of the batch at once (the fingerprint holds the connection)."""
    if not failures:
        return []
    by_print: dict[str, list[Failure]] = {}
    for failure in failures:
        key = fingerprint(failure.connection_id, failure.topic.topic, failure.parser, failure.kind, failure.location)
        by_print.setdefault(key, []).append(failure)
    open_groups = _open_groups(list(by_print), now)
    changes = [_grow(open_groups[key], same) for key, same in by_print.items() if key in open_groups]
    if changes:
        MqttParsingLog.objects.bulk_update(
            [c.row for c in changes], ["count", "last_seen_at", "message", "details", "payload_excerpt", "payload_size"]
        )
    created = [_new_group(key, same) for key, same in by_print.items() if key not in open_groups]
    if created:
        MqttParsingLog.objects.bulk_create(created)
    changes += [GroupChange(row.connection_id, row, row.count, True, row.count) for row in created]
    for same in by_print.values():
        _log_line(same[0].connection_id, same)
        _report(same[0].connection_id, same)
    return changes


def _open_groups(prints: list[str], now: datetime) -> dict[str, MqttParsingLog]:
    since = now - timedelta(seconds=settings.MQTT_PARSE_ERROR_GROUP_WINDOW)
    groups: dict[str, MqttParsingLog] = {}
    rows = MqttParsingLog.objects.filter(fingerprint__in=prints, last_seen_at__gte=since).order_by("-last_seen_at")
    for row in rows.only("id", "fingerprint", "count", "last_seen_at"):
        groups.setdefault(row.fingerprint, row)
    return groups


def _grow(row: MqttParsingLog, same: list[Failure]) -> GroupChange:
    latest = same[-1]
    total = row.count + len(same)
    row.count = F("count") + len(same)
    row.last_seen_at = max(latest.at, row.last_seen_at)
    row.message = latest.message
    row.details = latest.details
    row.payload_excerpt = excerpt(latest.payload, EXCERPT_BYTES)
    row.payload_size = len(latest.payload)
    return GroupChange(latest.connection_id, row, len(same), False, total)


@dataclass(slots=True)
class Tally:
    """A group's failures in a re-parsed range, without keeping each one (a range may hold millions)."""

    first: Failure
    latest: Failure
    count: int = 1


def tally(failures: list[Failure], into: dict[str, Tally]) -> None:
    for failure in failures:
        key = fingerprint(failure.connection_id, failure.topic.topic, failure.parser, failure.kind, failure.location)
        found = into.get(key)
        if found is None:
            into[key] = Tally(failure, failure)
        else:
            found.latest, found.count = failure, found.count + 1


def create_groups(tallies: dict[str, Tally]) -> int:
    """One group per tally, created whole: a re-parse re-evaluates a range whose groups it removed first."""
    MqttParsingLog.objects.bulk_create([_new_group(key, [t.first, t.latest], t.count) for key, t in tallies.items()])
    return len(tallies)


def _new_group(key: str, same: list[Failure], count: int | None = None) -> MqttParsingLog:
    first, latest = same[0], same[-1]
    return MqttParsingLog(
        connection_id=first.connection_id,
        topic_id=first.topic.pk,
        topic_name=first.topic.topic,
        parser_name=first.parser[:100],
        error_kind=first.kind,
        message=latest.message,
        location=first.location[:255],
        details=latest.details,
        payload_excerpt=excerpt(latest.payload, EXCERPT_BYTES),
        payload_size=len(latest.payload),
        fingerprint=key,
        count=len(same) if count is None else count,
        first_seen_at=first.at,
        last_seen_at=latest.at,
    )


def _log_line(connection_id: int, same: list[Failure]) -> None:
    latest = same[-1]
    parsing_logger.warning(
        "parse error connection=%s topic=%s parser=%s kind=%s location=%s count=%d: %s payload=%r",
        connection_id,
        latest.topic.topic,
        latest.parser or "-",
        latest.kind,
        latest.location or "-",
        len(same),
        latest.message,
        excerpt(latest.payload, LOG_PAYLOAD_CHARS),
    )


def _report(connection_id: int, same: list[Failure]) -> None:
    """One Sentry event per group (the helper throttles per fingerprint; a no-op while Sentry is off)."""
    from mqtt_app.observability.sentry import capture_parse_failure

    latest = same[-1]
    try:
        capture_parse_failure(
            connection_id=connection_id,
            topic=latest.topic.topic,
            parser=latest.parser,
            kind=latest.kind,
            location=latest.location,
            message=latest.message,
            details=latest.details,
            payload_excerpt=excerpt(latest.payload, LOG_PAYLOAD_CHARS),
            count=len(same),
        )
    except Exception:  # noqa: BLE001 - reporting must never fail the batch
        parsing_logger.debug("could not report a parse failure to Sentry", exc_info=True)
