"""The ingest path's hook: a stored batch of a connection that value rules (threshold, device_offline) watch asks
for those rules' evaluation on that connection at once, instead of at the next 15 s tick.

Cheap by construction: which connections are watched is read at most every REFRESH_SECONDS per process (one query,
none per batch), so with no such rule a batch costs a clock read and a comparison; with rules, a set lookup per
connection and at most one task per watched connection and second per process (a batch inside that second gets
one scheduled at its end). The evaluation itself runs in its
own task (tasks.alerts.evaluate_values), never in the batch's transaction.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0  # a new or deleted rule reaches the hook within this long (the beat task covers the gap)
MIN_INTERVAL = 1.0  # seconds between two evaluations asked for one connection by one process


class Watch:
    def __init__(self) -> None:
        self.connections: frozenset[int] = frozenset()
        self.checked = -math.inf
        self.asked: dict[int, float] = {}
        self.lock = threading.Lock()

    def watched(self, now: float) -> frozenset[int]:
        if now - self.checked >= REFRESH_SECONDS:
            with self.lock:
                if now - self.checked >= REFRESH_SECONDS:
                    self.connections = watched_connections()
                    self.checked = now
        return self.connections

    def due(self, connection_ids: Iterable[int], now: float) -> dict[float, list[int]]:
        """{seconds from now: connections} to evaluate. At most one evaluation a MIN_INTERVAL per connection, and
        a batch inside the interval gets one at its end (the trailing edge): its value is never left to the tick."""
        watched = self.watched(now)
        if not watched:
            return {}
        due: dict[float, list[int]] = {}
        for connection_id in sorted(set(connection_ids) & watched):
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
            self.connections, self.checked, self.asked = frozenset(), -math.inf, {}


watch = Watch()


def watched_connections() -> frozenset[int]:
    """The connections covered by an enabled value rule: those named, and every connection of a site-wide rule."""
    from mqtt_app.models import MqttConnection

    from .evaluate import VALUE_KINDS
    from .models import AlertRule

    scopes = list(
        AlertRule.objects.filter(is_enabled=True, kind__in=VALUE_KINDS).values_list("site_id", "connection_id")
    )
    if not scopes:
        return frozenset()
    named = {connection for _, connection in scopes if connection is not None}
    sites = {site for site, connection in scopes if connection is None}
    if sites:
        named |= set(MqttConnection.objects.filter(site_id__in=sites).values_list("pk", flat=True))
    return frozenset(named)


def after_batch(connection_ids: Iterable[int]) -> None:
    """Called by the ingest pipeline after a batch was stored. Never raises: alerts must not fail ingestion."""
    try:
        due = watch.due(connection_ids, time.monotonic())
        if due:
            from tasks.alerts import evaluate_values

            for countdown, ids in due.items():
                evaluate_values.apply_async((ids,), countdown=countdown)
    except Exception:  # noqa: BLE001 - the beat task evaluates the same rules within 15 s anyway
        logger.warning("could not ask for the value rules' evaluation", exc_info=True)
