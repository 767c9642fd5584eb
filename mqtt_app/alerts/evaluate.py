"""What each kind of rule finds wrong at a given time: pure functions of the database and `now`.

`find(rule, now)` returns the subjects in breach (`Finding`s keyed by subject) and, for threshold rules, the
subjects inside the hysteresis band (back under `value` but not yet past `clear_value`): an alert open on one of
those stays open. Everything else open for the rule is resolved by the caller (service.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from mqtt_app.models import ConnectionStatus, DeadLetter, IngestBatch, MqttConnection, MqttConnectionLog, MqttTopic
from mqtt_app.validators import topic_matches

from .models import AlertRule, RuleKind

VALUE_KINDS = (RuleKind.THRESHOLD, RuleKind.DEVICE_OFFLINE)  # rules on what messages say (the ingest hook)
THRESHOLD_SERIES_DEPTH = 200  # newest readings read per topic and metric: a breach older than that counts from there
THRESHOLD_LOOKBACK = timedelta(days=1)  # topics silent for longer keep their open alerts but find no new ones
MIN_LEARNED_SAMPLES = 3  # messages a topic needs before its usual interval means anything

# Device availability topics (suffix) and the payloads that mean offline, lower-cased.
OFFLINE_PAYLOADS: dict[str, frozenset[str]] = {
    "/availability": frozenset({"offline"}),  # Zigbee2MQTT (plain text, or JSON {"state": "offline"})
    "/LWT": frozenset({"offline"}),  # Tasmota
    "/$state": frozenset({"lost", "disconnected"}),  # Homie
    "/online": frozenset({"false"}),  # Shelly
}


@dataclass(frozen=True)
class Finding:
    key: str
    subject: str
    since: datetime
    connection_id: int | None
    topic_id: int | None = None
    value: float | None = None


@dataclass
class Verdict:
    firing: dict[str, Finding] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)  # threshold subjects not yet cleared


def find(rule: AlertRule, now: datetime, only: set[int] | None = None) -> Verdict:
    """`only`: evaluate value rules (threshold, device_offline) on these connections alone (the ingest hook)."""
    if only is not None and rule.kind in (RuleKind.THRESHOLD, RuleKind.DEVICE_OFFLINE):
        return (threshold if rule.kind == RuleKind.THRESHOLD else device_offline)(rule, now, only)
    finders = {
        RuleKind.CONNECTION_DOWN: connection_down,
        RuleKind.TOPIC_SILENT: topic_silent,
        RuleKind.PARSE_ERRORS: parse_errors,
        RuleKind.ERROR_RATE: error_rate,
        RuleKind.THRESHOLD: threshold,
        RuleKind.DEVICE_OFFLINE: device_offline,
    }
    return finders[RuleKind(rule.kind)](rule, now)


def _verdict(findings: Iterable[Finding]) -> Verdict:
    return Verdict(firing={finding.key: finding for finding in findings})


# --- scope ------------------------------------------------------------------------------------------
def connections_in(rule: AlertRule, only: set[int] | None = None) -> QuerySet:
    """The rule's active connections (a stopped one is not down, and its topics are not silent)."""
    queryset = MqttConnection.objects.filter(site_id=rule.site_id, is_active=True)
    if only is not None:
        queryset = queryset.filter(pk__in=only)
    return queryset.filter(pk=rule.connection_id) if rule.connection_id else queryset


def topics_in(rule: AlertRule, only: set[int] | None = None) -> QuerySet:
    topics = MqttTopic.objects.filter(connection__in=connections_in(rule, only).values("pk"))
    return topics.filter(pk=rule.topic_id) if rule.topic_id else topics


def _matches(rule: AlertRule, topic: str) -> bool:
    return not rule.filter or topic_matches(rule.filter, topic)


# --- connection_down --------------------------------------------------------------------------------
def connection_down(rule: AlertRule, now: datetime) -> Verdict:
    cutoff = now - timedelta(seconds=rule.for_seconds)
    found = []
    down = connections_in(rule).exclude(status=ConnectionStatus.CONNECTED)
    for conn in down.values("pk", "name", "status", "status_detail", "status_changed_at", "created_at"):
        since = down_since(conn["pk"]) or conn["status_changed_at"] or conn["created_at"]
        if since <= cutoff:
            detail = f": {conn['status_detail'][:120]}" if conn["status_detail"] else ""
            subject = f"connection {conn['name']} is {conn['status']}{detail}"
            found.append(Finding(f"connection:{conn['pk']}", subject, since, conn["pk"]))
    return _verdict(found)


def down_since(connection_id: int) -> datetime | None:
    """When the connection last left `connected` (or was started after a stop): a listener retrying every
    second records a status each time, so the current status's own time says nothing about how long it is down."""
    events = MqttConnectionLog.objects.filter(connection_id=connection_id)
    settled = events.filter(status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.STOPPED])
    last_good = settled.order_by("-created_at").values_list("created_at", flat=True).first()
    after = events.filter(created_at__gt=last_good) if last_good else events
    return after.order_by("created_at").values_list("created_at", flat=True).first()


# --- topic_silent -------------------------------------------------------------------------------------
def topic_silent(rule: AlertRule, now: datetime) -> Verdict:
    topics = topics_in(rule)
    if rule.for_seconds:
        topics = topics.filter(last_seen_at__lte=now - timedelta(seconds=rule.for_seconds))
    found = []
    fields = ("pk", "topic", "connection_id", "first_seen_at", "last_seen_at", "message_count")
    for topic in topics.values(*fields).iterator():
        if not _matches(rule, topic["topic"]):
            continue
        allowed = _silence_allowed(rule, topic)
        silent = (now - topic["last_seen_at"]).total_seconds()
        if allowed is not None and silent >= allowed:
            subject = f"topic {topic['topic']} silent for {int(silent)} s"
            found.append(Finding(f"topic:{topic['pk']}", subject, topic["last_seen_at"], topic["connection_id"],
                                 topic["pk"], round(silent, 1)))  # fmt: skip
    return _verdict(found)


def _silence_allowed(rule: AlertRule, topic: dict[str, Any]) -> float | None:
    """Seconds of silence that fire: for_seconds, or k (the rule's value) times the topic's usual interval."""
    if rule.for_seconds:
        return float(rule.for_seconds)
    if topic["message_count"] < MIN_LEARNED_SAMPLES or rule.value is None:
        return None  # nothing learned yet
    span = (topic["last_seen_at"] - topic["first_seen_at"]).total_seconds()
    return rule.value * span / (topic["message_count"] - 1)


# --- parse_errors ------------------------------------------------------------------------------------
def message_totals(connection_ids: list[int], since: datetime, now: datetime) -> dict[int, tuple[int, int]]:
    """{connection: (messages, parse failures)} of the batches stored in [since, now]."""
    rows = (
        IngestBatch.objects.filter(
            connection_id__in=connection_ids, processed_at__gte=since, processed_at__lte=now, split=False
        )  # fmt: skip
        .values("connection_id")
        .annotate(messages=Sum("message_count"), errors=Sum("error_count"))
    )
    return {row["connection_id"]: (row["messages"] or 0, row["errors"] or 0) for row in rows}


def parse_errors(rule: AlertRule, now: datetime) -> Verdict:
    since = now - timedelta(seconds=rule.for_seconds)
    names = dict(connections_in(rule).values_list("pk", "name"))
    found = []
    for cid, (messages, errors) in message_totals(list(names), since, now).items():
        ratio = errors / messages if messages else 0.0
        if ratio > (rule.value or 0):
            subject = f"connection {names[cid]}: {ratio:.1%} of messages failed to parse"
            found.append(Finding(f"connection:{cid}", subject, since, cid, value=round(ratio, 4)))
    return _verdict(found)


# --- error_rate --------------------------------------------------------------------------------------
def error_rate(rule: AlertRule, now: datetime) -> Verdict:
    """The application's failures on a connection's data: its dead letters (messages that could not be stored)
    out of its messages over the window (the health panel's error rate, per connection)."""
    since = now - timedelta(seconds=rule.for_seconds)
    names = dict(connections_in(rule).values_list("pk", "name"))
    messages = {cid: total for cid, (total, _) in message_totals(list(names), since, now).items()}
    dead = (
        DeadLetter.objects.filter(connection_id__in=list(names), created_at__gte=since, created_at__lte=now)
        .values("connection_id")
        .annotate(n=Count("id"))
        .values_list("connection_id", "n")
    )
    found = []
    for cid, failed in dead:
        ratio = failed / max(messages.get(cid) or 0, failed)
        if ratio > (rule.value or 0):
            subject = f"connection {names[cid]}: {failed} messages could not be stored ({ratio:.1%})"
            found.append(Finding(f"connection:{cid}", subject, since, cid, value=round(ratio, 4)))
    return _verdict(found)


# --- device_offline -----------------------------------------------------------------------------------
def device_offline(rule: AlertRule, now: datetime, only: set[int] | None = None) -> Verdict:
    suffixes = Q()
    for suffix in OFFLINE_PAYLOADS:
        suffixes |= Q(topic__endswith=suffix)
    fields = ("pk", "topic", "connection_id", "last_seen_at", "last_payload")
    found = []
    for topic in topics_in(rule, only).filter(suffixes).values(*fields).iterator():
        if _matches(rule, topic["topic"]) and says_offline(topic["topic"], bytes(topic["last_payload"])):
            device = topic["topic"].rsplit("/", 1)[0].rsplit("/", 1)[-1]
            found.append(Finding(f"topic:{topic['pk']}", f"device {device} is offline ({topic['topic']})",
                                 topic["last_seen_at"], topic["connection_id"], topic["pk"]))  # fmt: skip
    return _verdict(found)


def says_offline(topic: str, payload: bytes) -> bool:
    suffix = next((s for s in OFFLINE_PAYLOADS if topic.endswith(s)), None)
    if suffix is None:
        return False
    text = payload[:200].decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("state", ""))
        except (ValueError, AttributeError):
            return False
    return text.lower() in OFFLINE_PAYLOADS[suffix]


# --- threshold -----------------------------------------------------------------------------------------
def threshold(rule: AlertRule, now: datetime, only: set[int] | None = None) -> Verdict:
    from .thresholds import threshold_verdict

    return threshold_verdict(rule, now, only)
