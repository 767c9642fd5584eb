"""Prometheus metrics, read from the database and Redis at scrape time (a custom collector).

Nothing is counted in process memory: the web process that answers a scrape is not the one that receives or
parses messages, so every figure comes from the shared stores. A failing source (DB or Redis down) yields
`mqtt_scrape_error{source=...} 1` instead of failing the whole scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from mqtt_app import coordination
from mqtt_app.models import ConnectionStatus, MqttConnection
from project.broker import QUEUES

from . import broker, health
from .latency import redis_client

logger = logging.getLogger(__name__)

CONNECTION_LABELS = ["connection", "site", "name"]
HEALTH_METRICS = ("uptime", "parse_success_rate", "error_rate")
SHARED_HEALTH = ("reconcile_seconds", "api_p99_seconds", "websocket_p99_seconds")
_health_cache: dict[int, tuple[float, dict]] = {}


def health_report(window: int) -> dict:
    """The success metrics, cached briefly: scrapes come every few seconds, the queries need not."""
    ttl = float(getattr(settings, "METRICS_HEALTH_CACHE_SECONDS", 30))
    cached = _health_cache.get(window)
    if cached and time.monotonic() - cached[0] < ttl:
        return cached[1]
    report = health.compute(window)
    _health_cache[window] = (time.monotonic(), report)
    return report


class MonitorCollector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def collect(self) -> Iterator[Metric]:
        self.errors = []
        parts: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("database", connection_metrics),
            ("broker", queue_metrics),
            ("redis", listener_metrics),
            ("health", health_metrics),
            ("dead_letters", dead_letter_metrics),
        ]
        for source, part in parts:
            try:
                yield from list(part())
            except Exception:  # noqa: BLE001 - one broken source must not hide the others
                logger.warning("metrics: could not read %s", source, exc_info=True)
                self.errors.append(source)
        failed = GaugeMetricFamily("mqtt_scrape_error", "1 when a source could not be read", labels=["source"])
        for source, _ in parts:
            failed.add_metric([source], 1.0 if source in self.errors else 0.0)
        yield failed


def _labels(connection: MqttConnection) -> list[str]:
    return [str(connection.pk), connection.site.name, connection.name]


def connection_metrics() -> Iterator[Metric]:
    connections = list(MqttConnection.objects.select_related("site").order_by("pk"))
    families = {
        "received": CounterMetricFamily("mqtt_messages_received", "Messages received", labels=CONNECTION_LABELS),
        "stored": CounterMetricFamily(
            "mqtt_messages_stored", "Messages processed without error", labels=CONNECTION_LABELS
        ),
        "failed": CounterMetricFamily(
            "mqtt_messages_failed", "Messages that failed to parse", labels=CONNECTION_LABELS
        ),
        "readings": CounterMetricFamily("mqtt_readings_stored", "Readings stored", labels=CONNECTION_LABELS),
    }
    state = GaugeMetricFamily(
        "mqtt_connection_status", "1 for the connection's current status", labels=[*CONNECTION_LABELS, "status"]
    )
    active = GaugeMetricFamily("mqtt_connection_active", "1 when the connection should run", labels=CONNECTION_LABELS)
    by_status = GaugeMetricFamily("mqtt_connections", "Connections per status", labels=["status"])
    totals = dict.fromkeys(ConnectionStatus.values, 0)
    for c in connections:
        labels = _labels(c)
        # Counters kept on the connection row by ingestion: monotonic, and no batch table to sum per scrape.
        families["received"].add_metric(labels, float(c.messages_received))
        families["stored"].add_metric(labels, float(c.messages_stored))
        families["failed"].add_metric(labels, float(c.messages_failed))
        families["readings"].add_metric(labels, float(c.readings_stored))
        for status in ConnectionStatus.values:
            state.add_metric([*labels, status], 1.0 if c.status == status else 0.0)
        active.add_metric(labels, 1.0 if c.is_active else 0.0)
        totals[c.status] = totals.get(c.status, 0) + 1
    for status, count in totals.items():
        by_status.add_metric([status], float(count))
    yield from (*families.values(), state, active, by_status)


def queue_depths(queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Tasks waiting in each Celery queue, on Redis or RabbitMQ (broker.py), in one round trip to the broker."""
    return broker.queue_depths(settings.CELERY_BROKER_URL, queues)


def queue_metrics() -> Iterator[Metric]:
    depth = GaugeMetricFamily("mqtt_queue_depth", "Tasks waiting in a Celery queue", labels=["queue"])
    for queue, length in queue_depths().items():
        depth.add_metric([queue], float(length))
    kind = GaugeMetricFamily("mqtt_broker", "1 for the Celery broker in use (redis or rabbitmq)", labels=["broker"])
    kind.add_metric([broker.kind(settings.CELERY_BROKER_URL)], 1.0)
    yield from (depth, kind)


def listener_metrics() -> Iterator[Metric]:
    listeners = coordination.live_listeners(redis_client())
    yield GaugeMetricFamily("mqtt_listeners", "Live listener processes (unexpired heartbeats)", value=len(listeners))
    last = health.last_reconcile()
    if last is not None:
        yield GaugeMetricFamily(
            "mqtt_reconcile_duration_seconds", "Duration of the last reconcile cycle", value=last["seconds"]
        )
        if last.get("at"):
            yield GaugeMetricFamily(
                "mqtt_reconcile_last_run_timestamp_seconds", "When the last reconcile finished", value=last["at"]
            )


def health_metrics() -> Iterator[Metric]:
    window = int(getattr(settings, "METRICS_HEALTH_WINDOW", 3600))
    report = health_report(window)
    per = GaugeMetricFamily(
        "mqtt_health_connection", "Success metric per connection", labels=[*CONNECTION_LABELS, "metric"]
    )
    per_ok = GaugeMetricFamily(
        "mqtt_health_connection_ok", "1 when on target, 0 when below", labels=[*CONNECTION_LABELS, "metric"]
    )
    for row in report["connections"]:
        labels = [str(row["id"]), row["site"], row["name"]]
        _add_judged(per, per_ok, labels, row["metrics"], HEALTH_METRICS)
    overall = GaugeMetricFamily("mqtt_health_overall", "Success metric over every connection", labels=["metric"])
    overall_ok = GaugeMetricFamily("mqtt_health_overall_ok", "1 when on target, 0 when below", labels=["metric"])
    _add_judged(overall, overall_ok, [], report["overall"], HEALTH_METRICS + SHARED_HEALTH)
    target = GaugeMetricFamily("mqtt_health_target", "The target of a success metric", labels=["metric"])
    for name, spec in report["targets"].items():
        target.add_metric([name], float(spec["target"]))
    window_gauge = GaugeMetricFamily("mqtt_health_window_seconds", "Window of the success metrics", value=window)
    yield from (per, per_ok, overall, overall_ok, target, window_gauge)


def _add_judged(
    values: GaugeMetricFamily,
    oks: GaugeMetricFamily,
    labels: list[str],
    metrics: dict[str, Any],
    names: tuple[str, ...],
) -> None:
    for name in names:
        judged = metrics.get(name) or {}
        if judged.get("value") is None:
            continue  # no data: no sample, rather than a misleading 0 or 1
        values.add_metric([*labels, name], float(judged["value"]))
        oks.add_metric([*labels, name], 1.0 if judged["ok"] else 0.0)


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector())
    return generate_latest(registry)


# --- dead letters ---------------------------------------------------------------------------------------------
def dead_letter_metrics() -> Iterator[Metric]:
    """Per connection: every dead letter kept, and those not stored yet (never replayed, or failed again).
    Every connection gets a sample, 0 included, so `increase()` sees the first one; a deleted connection's
    rows keep their own (empty site and name)."""
    from django.db.models import Count

    from mqtt_app.models import DeadLetter
    from mqtt_app.services.dead_letters import replayed_filter

    counts = {
        row["connection_id"]: row
        for row in DeadLetter.objects.order_by()
        .values("connection_id")
        .annotate(all=Count("id"), pending=Count("id", filter=replayed_filter(False)))
    }
    names = {c["id"]: c for c in MqttConnection.objects.values("id", "name", "site__name")}
    total = CounterMetricFamily(
        "mqtt_dead_letters", "Messages kept as dead letters (less any deleted by staff)", labels=CONNECTION_LABELS
    )
    pending = GaugeMetricFamily(
        "mqtt_dead_letters_pending",
        "Dead letters not stored yet: never replayed, or failed again",
        labels=CONNECTION_LABELS,
    )
    for cid in sorted(names.keys() | counts.keys()):
        conn: Mapping[str, Any] = names.get(cid, {})
        row: Mapping[str, Any] = counts.get(cid, {})
        labels = [str(cid), conn.get("site__name", ""), conn.get("name", "")]
        total.add_metric(labels, float(row.get("all", 0)))
        pending.add_metric(labels, float(row.get("pending", 0)))
    yield from (total, pending)
