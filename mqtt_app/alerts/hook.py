"""The ingest path's hook: a stored batch that can change a value rule (threshold, device_offline) of its
connection asks for those rules' evaluation on that connection at once, instead of at the next 15 s tick.

Cheap by construction. What each watched connection's rules look for is read at most every REFRESH_SECONDS per
process (two queries, none per batch): with no such rule a batch costs a clock read and a comparison. With rules,
the batch's own readings are compared in memory with them, and only a batch that holds a value past a threshold,
a value of a metric whose alert is open (it may clear it), or a message on a device availability topic asks for
an evaluation: at most one task per connection and second per process (a batch inside that second gets one
scheduled at its end). The evaluation itself, which reads the database, runs in its own task
(tasks.alerts.evaluate_values), never in the batch's transaction.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mqtt_app.refreshed import Refreshed

from .evaluate import OFFLINE_PAYLOADS

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0  # a new or deleted rule reaches the hook within this long (the beat task covers the gap)
MIN_INTERVAL = 1.0  # seconds between two evaluations asked for one connection by one process


METRIC, VALUE = 3, 5  # a reading row's metric and value (mqtt_app.ingest.persist.COLUMNS)
SUFFIXES = tuple(OFFLINE_PAYLOADS)  # device availability topics


@dataclass
class Interest:
    """What of a batch can change one connection's value rules."""

    limits: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # metric: [(op, value)] of threshold rules
    open_metrics: set[str] = field(default_factory=set)  # metrics of threshold rules with an open alert
    availability: bool = False  # a device_offline rule covers the connection

    def wants(self, update: Any) -> bool:  # noqa: ANN401 - an ingest.live.LiveUpdate
        if self.availability and any(entry.row.topic.endswith(SUFFIXES) for entry in update.topics):
            return True
        limits, open_metrics = self.limits, self.open_metrics
        for row in update.rows:
            metric = row[METRIC]
            if metric in open_metrics:
                return True
            checks = limits.get(metric)
            if checks and (value := row[VALUE]) is not None:
                if any(value > limit if op == "gt" else value < limit for op, limit in checks):
                    return True
        return False


class Watch:
    def __init__(self) -> None:
        self.interests: Refreshed[dict[int, Interest]] = Refreshed(lambda: interests(), REFRESH_SECONDS, {})
        self.asked: dict[int, float] = {}
        self.lock = threading.Lock()

    def refresh(self, now: float) -> dict[int, Interest]:
        return self.interests.get(now)

    def wanted(self, updates: Iterable[Any], now: float) -> list[int]:  # noqa: ANN401
        """The connections of these stored batches' parts whose value rules the batch may change."""
        interests = self.refresh(now)
        if not interests:
            return []
        return [u.connection_id for u in updates if (i := interests.get(u.connection_id)) is not None and i.wants(u)]

    def due(self, connection_ids: Iterable[int], now: float) -> dict[float, list[int]]:
        """{seconds from now: connections} to evaluate. At most one evaluation a MIN_INTERVAL per connection, and
        a batch inside the interval gets one at its end (the trailing edge): its value is never left to the tick."""
        watched = self.refresh(now)
        due: dict[float, list[int]] = {}
        for connection_id in sorted(c for c in set(connection_ids) if c in watched):
            last = self.asked.get(connection_id, -math.inf)  # the time of the last evaluation asked for
            if now - last >= MIN_INTERVAL:
                self.asked[connection_id] = now
                due.setdefault(0.0, []).append(connection_id)
            elif last <= now:  # none is scheduled after this batch yet
                self.asked[connection_id] = last + MIN_INTERVAL
                due.setdefault(round(last + MIN_INTERVAL - now, 3), []).append(connection_id)
        return due

    def reset(self) -> None:
        with self.lock:
            self.interests.forget()
            self.asked = {}


watch = Watch()


def interests() -> dict[int, Interest]:
    """What the enabled value rules look for, per connection they cover (a site-wide rule: each of its
    connections)."""
    from mqtt_app.models import MqttConnection

    from .evaluate import VALUE_KINDS
    from .models import Alert, AlertRule

    fields = ("pk", "kind", "site_id", "connection_id", "metric", "op", "value")
    rules = list(AlertRule.objects.filter(is_enabled=True, kind__in=VALUE_KINDS).values(*fields))
    if not rules:
        return {}
    opened = set(Alert.objects.filter(rule_id__in=[r["pk"] for r in rules], resolved_at__isnull=True)
                 .values_list("rule_id", flat=True))  # fmt: skip
    sites = {r["site_id"] for r in rules if r["connection_id"] is None}
    by_site: dict[int, list[int]] = {}
    for pk, site in MqttConnection.objects.filter(site_id__in=sites).values_list("pk", "site_id"):
        by_site.setdefault(site, []).append(pk)
    found: dict[int, Interest] = {}
    for rule in rules:
        for cid in [rule["connection_id"]] if rule["connection_id"] else by_site.get(rule["site_id"], []):
            interest = found.setdefault(cid, Interest())
            if rule["kind"] == "device_offline":
                interest.availability = True
            elif rule["pk"] in opened or rule["value"] is None:
                interest.open_metrics.add(rule["metric"])
            else:
                interest.limits.setdefault(rule["metric"], []).append((rule["op"], float(rule["value"])))
    return found


def after_batch(updates: Iterable[Any]) -> None:  # noqa: ANN401 - ingest.live.LiveUpdate per connection
    """Called by the ingest pipeline after a batch was stored. Never raises: alerts must not fail ingestion."""
    try:
        now = time.monotonic()
        due = watch.due(watch.wanted(updates, now), now)
        if due:
            from tasks.alerts import evaluate_values

            for countdown, ids in due.items():
                evaluate_values.apply_async((ids,), countdown=countdown)
    except Exception:  # noqa: BLE001 - the beat task evaluates the same rules within 15 s anyway
        logger.warning("could not ask for the value rules' evaluation", exc_info=True)
