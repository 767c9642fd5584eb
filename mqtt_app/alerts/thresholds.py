"""Threshold rules over the stored readings: a metric above (or below) `value` for `for_seconds`, cleared only
past `clear_value` (hysteresis: a value wavering around the threshold does not fire and resolve over and over).

Per topic and device, the newest readings of the metric are read through the (topic, time) index; the breach
began at the oldest reading of the newest unbroken run of breaching readings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from mqtt_app.api import timestamps
from mqtt_app.history import compaction, stored
from mqtt_app.models import TelemetryReading

from .evaluate import THRESHOLD_LOOKBACK, THRESHOLD_SERIES_DEPTH, Finding, Verdict, _matches, topics_in
from .models import Alert, AlertRule


def breaches(rule: AlertRule, value: float) -> bool:
    assert rule.value is not None
    return value > rule.value if rule.op == "gt" else value < rule.value


def cleared(rule: AlertRule, value: float) -> bool:
    limit = rule.value if rule.clear_value is None else rule.clear_value
    assert limit is not None
    return value <= limit if rule.op == "gt" else value >= limit


def threshold_verdict(rule: AlertRule, now: datetime, only: set[int] | None = None) -> Verdict:
    verdict = Verdict()
    open_topics = Alert.objects.filter(rule=rule, resolved_at__isnull=True).values("topic_id")
    recent = Q(last_seen_at__gte=now - THRESHOLD_LOOKBACK) | Q(pk__in=open_topics)
    for topic in topics_in(rule, only).filter(recent, is_processable=True).values("pk", "topic", "connection_id"):
        if _matches(rule, topic["topic"]):
            _judge_topic(rule, topic, now, verdict)
    return verdict


def _judge_topic(rule: AlertRule, topic: dict[str, Any], now: datetime, verdict: Verdict) -> None:
    rows = _newest(topic["pk"], rule.metric)
    series: dict[str, list[tuple[float, datetime]]] = {}
    for device, value, at in rows:
        series.setdefault(device, []).append((value or 0.0, at))  # value__isnull=False above
    for device, points in series.items():
        key = f"topic:{topic['pk']}" + (f"/device:{device}" if device else "")
        latest = points[0][0]
        if breaches(rule, latest):
            since = _run_start(rule, points)
            if now - since >= timedelta(seconds=rule.for_seconds):
                who = f"{device} on {topic['topic']}" if device else topic["topic"]
                side = "above" if rule.op == "gt" else "below"
                subject = f"{rule.metric} of {who} is {latest:g} ({side} {rule.value:g})"
                verdict.firing[key] = Finding(key, subject, since, topic["connection_id"], topic["pk"], latest)
            else:
                verdict.held.add(key)  # breaching, not for long enough yet: an open alert (if any) stays
        elif not cleared(rule, latest):
            verdict.held.add(key)


def _run_start(rule: AlertRule, points: list[tuple[float, datetime]]) -> datetime:
    """The time of the oldest reading of the newest unbroken run of breaching readings (newest first)."""
    start = points[0][1]
    for value, at in points:
        if not breaches(rule, value):
            break
        start = at
    return start


def _newest(topic_id: int, metric: str) -> list[tuple[str, float | None, datetime]]:
    """(device, value, time) of the topic's newest readings of the metric, rows and compacted ones (a topic
    silent for days has only compacted readings)."""
    rows = (
        TelemetryReading.objects.filter(topic_id=topic_id, metric=metric, value__isnull=False)
        .order_by("-timestamp")
        .values_list("device", "value", "timestamp")[:THRESHOLD_SERIES_DEPTH]
    )
    found = list(rows)
    if len(found) == THRESHOLD_SERIES_DEPTH and found[-1][2] > compaction.cutoff(timezone.now()) + timedelta(days=1):
        return found  # compacted readings arrived before the cutoff: older than these (device clocks a day off at most)
    series = stored.series_of([topic_id], metric)
    older = []
    for row in stored.newest_first(series, limit=THRESHOLD_SERIES_DEPTH):
        at = timestamps.parse(row["timestamp_text"])
        if row["value"] is not None and at is not None:
            older.append((row["device"], row["value"], at))
    return sorted(found + older, key=lambda row: row[2], reverse=True)[:THRESHOLD_SERIES_DEPTH]
