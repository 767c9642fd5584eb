"""The success metrics, computed per connection and overall for a window.

| metric              | target   | computed from                                                          |
|---------------------|----------|------------------------------------------------------------------------|
| uptime              | > 99 %   | MqttConnectionLog events (connected = up; disconnected/error/started/   |
|                     |          | reassigned = down; stopped = off, not counted), a stale heartbeat = down |
| parse_success_rate  | > 95 %   | messages that produced readings (distinct topic + receive time) versus  |
|                     |          | failed messages (IngestBatch.error_count)                               |
| error_rate          | < 0.1 %  | the application's own failures: per connection its dead letters out of |
|                     |          | its messages; overall also failed tasks and 5xx API answers, out of     |
|                     |          | messages, tasks and requests (observability/errors.py). Parse failures  |
|                     |          | are the devices' and have their own metric, parse_success_rate.         |
| reconcile_seconds   | < 5 s    | the last reconcile's duration (Redis, written by the reconcile service) |
| api_p99_seconds     | < 0.2 s  | latency samples recorded by ApiLatencyMiddleware                        |
| websocket_p99_seconds | < 0.5 s | latency samples recorded by the WebSocket consumer                     |

A metric without data is None with ok None ("no data"), never a made-up 100 %.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from mqtt_app import coordination
from mqtt_app.models import (
    ConnectionEvent,
    ConnectionStatus,
    DeadLetter,
    IngestBatch,
    MqttConnection,
    MqttConnectionLog,
    TelemetryReading,
)

from . import errors
from .latency import percentile, samples

logger = logging.getLogger(__name__)

TARGETS: dict[str, tuple[str, float]] = {
    "uptime": (">=", 0.99),
    "parse_success_rate": (">=", 0.95),
    "error_rate": ("<=", 0.001),
    "reconcile_seconds": ("<", 5.0),
    "api_p99_seconds": ("<", 0.2),
    "websocket_p99_seconds": ("<", 0.5),
}
UP, DOWN, OFF = "up", "down", "off"
EVENT_STATE: dict[str, str] = {
    ConnectionEvent.CONNECTED: UP,
    ConnectionEvent.DISCONNECTED: DOWN,
    ConnectionEvent.ERROR: DOWN,
    ConnectionEvent.STARTED: DOWN,  # wanted, not yet connected
    ConnectionEvent.REASSIGNED: DOWN,
    ConnectionEvent.STOPPED: OFF,
    # SILENT keeps the state: a quiet broker is a data problem, not a connection one.
}
MIN_WINDOW, MAX_WINDOW = 60, 31 * 86400


@dataclass
class Uptime:
    up: float = 0.0
    down: float = 0.0

    @property
    def ratio(self) -> float | None:
        total = self.up + self.down
        return self.up / total if total > 0 else None

    def add(self, state: str, seconds: float) -> None:
        if seconds <= 0:
            return
        if state == UP:
            self.up += seconds
        elif state == DOWN:
            self.down += seconds


@dataclass
class Counts:
    ok_messages: int = 0
    failed_messages: int = 0  # parse failures
    received_messages: int = 0
    dead_letters: int = 0  # messages that could not be stored
    uptime: Uptime = field(default_factory=Uptime)


def judge(name: str, value: float | None) -> dict[str, Any]:
    op, target = TARGETS[name]
    if value is None:
        return {"value": None, "target": target, "op": op, "ok": None}
    ok = value >= target if op == ">=" else value <= target if op == "<=" else value < target
    return {"value": round(value, 6), "target": target, "op": op, "ok": ok}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- uptime -------------------------------------------------------------------------------------------
def initial_state(connection: MqttConnection, before: str | None, has_events: bool) -> str:
    """The state at the window's start: the last event before it, else (no history at all) today's status."""
    if before:
        return EVENT_STATE.get(before, DOWN)
    if has_events:
        return OFF  # history starts inside the window: the time before it is unknown, not counted
    if not connection.is_active or connection.status == ConnectionStatus.STOPPED:
        return OFF
    return UP if connection.status == ConnectionStatus.CONNECTED else DOWN


def connection_uptime(
    connection: MqttConnection,
    before: str | None,
    events: list[tuple[str, datetime]],
    start: datetime,
    end: datetime,
) -> Uptime:
    result = Uptime()
    state = initial_state(connection, before, bool(events))
    cursor = start
    for event, at in events:
        result.add(state, (at - cursor).total_seconds())
        state = EVENT_STATE.get(event, state)
        cursor = at
    alive_until = _heartbeat_end(connection, state, cursor, end)
    result.add(state, (alive_until - cursor).total_seconds())
    result.add(DOWN, (end - alive_until).total_seconds())  # non-zero only for a stale heartbeat
    return result


def _heartbeat_end(connection: MqttConnection, state: str, cursor: datetime, end: datetime) -> datetime:
    """Where a 'connected' stretch really ends: a listener that stopped heart-beating is not connected."""
    beat = connection.last_heartbeat_at
    if state != UP or beat is None:
        return end
    grace = timedelta(seconds=max(float(getattr(settings, "MQTT_LISTENER_TTL", 20.0)), 60.0))
    return min(end, max(cursor, beat + grace))


def uptimes(connections: list[Any], start: datetime, end: datetime) -> dict[int, Uptime]:
    events: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    rows = (
        MqttConnectionLog.objects.filter(connection__in=connections, created_at__gte=start, created_at__lte=end)
        .order_by("connection_id", "created_at", "id")
        .values_list("connection_id", "event", "created_at")
    )
    for cid, event, at in rows:
        events[cid].append((event, at))
    return {c.pk: connection_uptime(c, c.event_before, events[c.pk], start, end) for c in connections}


# --- messages -------------------------------------------------------------------------------------------
def message_counts(ids: list[int], start: datetime, end: datetime) -> dict[int, Counts]:
    counts: dict[int, Counts] = defaultdict(Counts)
    batches = (
        IngestBatch.objects.filter(connection_id__in=ids, processed_at__gte=start, processed_at__lte=end)
        .values("connection_id")
        .annotate(messages=Sum("message_count"), errors=Sum("error_count"))
    )
    for row in batches:
        counts[row["connection_id"]].received_messages = row["messages"] or 0
        counts[row["connection_id"]].failed_messages = row["errors"] or 0
    # One message yields several readings sharing its topic and receive time: count distinct pairs.
    pair = Concat(Cast("topic_id", CharField()), Value("|"), Cast("received_at", CharField()))
    parsed = (
        TelemetryReading.objects.filter(connection_id__in=ids, received_at__gte=start, received_at__lte=end)
        .values("connection_id")
        .annotate(n=Count(pair, distinct=True))
        .values_list("connection_id", "n")
    )
    for cid, number in parsed:
        counts[cid].ok_messages = number
    dead = (
        DeadLetter.objects.filter(connection_id__in=ids, created_at__gte=start, created_at__lte=end)
        .values("connection_id")
        .annotate(n=Count("id"))
        .values_list("connection_id", "n")
    )
    for cid, number in dead:
        counts[cid].dead_letters = number
    return counts


def application_errors(total: Counts, start: datetime, end: datetime) -> dict[str, Any]:
    """The overall error rate: dead letters, failed tasks and 5xx API answers, out of messages, tasks and API
    requests in the window."""
    tasks = errors.task_totals(start.timestamp(), end.timestamp()) or (0, 0)
    api = samples("api", start.timestamp())
    failed_requests = sum(s.error for s in api)
    failures = total.dead_letters + tasks[1] + failed_requests
    metric = judge("error_rate", _ratio(failures, total.received_messages + tasks[0] + len(api)))
    return metric | {"dead_letters": total.dead_letters, "tasks": tasks[0], "tasks_failed": tasks[1],
                     "requests": len(api), "requests_failed": failed_requests}  # fmt: skip


# --- shared (not per connection) -----------------------------------------------------------------------
def last_reconcile() -> dict[str, Any] | None:
    """The last reconcile's {"seconds", "at"} from Redis: the reconcile service's summary
    (P:reconcile:last), else a bare duration in P:reconcile:last_duration."""
    from .latency import redis_client

    client = redis_client()
    try:
        summary = coordination.last_reconcile(client)
        if summary and "seconds" in summary:
            return {"seconds": float(summary["seconds"]), "at": float(summary.get("at") or 0) or None}
        raw = client.get(f"{settings.REDIS_KEY_PREFIX}:reconcile:last_duration")
        return {"seconds": float(raw), "at": None} if raw else None
    except Exception:  # noqa: BLE001 - Redis down or a foreign value: report "no data"
        logger.warning("could not read the last reconcile duration", exc_info=True)
        return None


def shared_metrics(since: float) -> dict[str, Any]:
    reconcile = last_reconcile()
    api = samples("api", since)
    websocket = samples("websocket", since)
    interval = float(getattr(settings, "MQTT_RECONCILE_INTERVAL", 30))
    result = {
        "reconcile_seconds": judge("reconcile_seconds", reconcile["seconds"] if reconcile else None),
        "api_p99_seconds": judge("api_p99_seconds", percentile([s.seconds for s in api], 0.99)),
        "websocket_p99_seconds": judge("websocket_p99_seconds", percentile([s.seconds for s in websocket], 0.99)),
    }
    age = time.time() - reconcile["at"] if reconcile and reconcile.get("at") else None
    result["reconcile_seconds"]["age_seconds"] = round(age, 1) if age is not None else None
    if age is not None and age > 3 * interval:
        result["reconcile_seconds"]["ok"] = False  # a stopped beat: the last duration is stale
    result["api_p99_seconds"]["samples"] = len(api)
    result["api_p99_seconds"]["error_rate"] = _ratio(sum(s.error for s in api), len(api))
    result["websocket_p99_seconds"]["samples"] = len(websocket)
    return result


# --- the report -----------------------------------------------------------------------------------------
def connection_metrics(counts: Counts) -> dict[str, Any]:
    parse_total = counts.ok_messages + counts.failed_messages
    return {
        "uptime": judge("uptime", counts.uptime.ratio),
        "parse_success_rate": judge("parse_success_rate", _ratio(counts.ok_messages, parse_total)),
        "error_rate": judge("error_rate", _ratio(counts.dead_letters, counts.received_messages)),
        "messages_received": counts.received_messages,
        "messages_parsed": counts.ok_messages,
        "messages_failed": counts.failed_messages,
        "dead_letters": counts.dead_letters,
        "up_seconds": round(counts.uptime.up, 1),
        "down_seconds": round(counts.uptime.down, 1),
    }


def healthy(metrics: dict[str, Any]) -> bool | None:
    verdicts = [m["ok"] for m in metrics.values() if isinstance(m, dict) and "ok" in m and m["ok"] is not None]
    return all(verdicts) if verdicts else None


def clamp_window(seconds: int) -> int:
    return max(MIN_WINDOW, min(MAX_WINDOW, int(seconds)))


def compute(window: int = 3600, connection_ids: list[int] | None = None, now: datetime | None = None) -> dict:
    """Every success metric for the last `window` seconds, per connection and overall."""
    window = clamp_window(window)
    end = now or timezone.now()
    start = end - timedelta(seconds=window)
    before = MqttConnectionLog.objects.filter(connection=OuterRef("pk"), created_at__lt=start)
    query = MqttConnection.objects.select_related("site").annotate(
        event_before=Subquery(before.order_by("-created_at", "-id").values("event")[:1])
    )
    if connection_ids is not None:
        query = query.filter(pk__in=connection_ids)
    connections = list(query)
    counts = message_counts([c.pk for c in connections], start, end)
    for cid, uptime in uptimes(connections, start, end).items():
        counts[cid].uptime = uptime
    total = Counts()
    for c in connections:
        item = counts[c.pk]
        total.ok_messages += item.ok_messages
        total.failed_messages += item.failed_messages
        total.received_messages += item.received_messages
        total.dead_letters += item.dead_letters
        total.uptime.up += item.uptime.up
        total.uptime.down += item.uptime.down
    overall = {**connection_metrics(total), **shared_metrics(start.timestamp())}
    if connection_ids is None:  # the whole application's tasks and requests: for the unfiltered report only
        overall["error_rate"] = application_errors(total, start, end)
    rows = [_connection_row(c, counts[c.pk]) for c in connections]
    return {
        "window_seconds": window,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "targets": {name: {"op": op, "target": target} for name, (op, target) in TARGETS.items()},
        "overall": {**overall, "healthy": healthy(overall)},
        "connections": rows,
        "below_target": [row["id"] for row in rows if row["healthy"] is False],
    }


def _connection_row(connection: MqttConnection, counts: Counts) -> dict[str, Any]:
    metrics = connection_metrics(counts)
    return {
        "id": connection.pk,
        "name": connection.name,
        "site": connection.site.name,
        "site_id": connection.site_id,
        "is_active": connection.is_active,
        "status": connection.status,
        "metrics": metrics,
        "healthy": healthy(metrics),
    }
