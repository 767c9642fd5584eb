"""Reconciliation: converge what live listeners hold (Redis) to what the database wants (`is_active`).

`plan()` is a pure function of the desired state, the live listeners and the current assignment, so the
policy is testable without Redis; `run_reconcile()` reads, plans and writes under a Redis lock with a TTL
so several beat ticks or workers never double-assign a connection.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from mqtt_app import coordination
from mqtt_app.models import ConnectionEvent, ConnectionStatus, MqttConnection
from mqtt_app.services.status import StatusChange, broadcast_statuses, record_statuses

logger = logging.getLogger(__name__)

UNHEALTHY = {ConnectionStatus.ERROR, ConnectionStatus.RECONNECTING, ConnectionStatus.STARTING}


@dataclass(frozen=True)
class Desired:
    id: int
    is_active: bool
    status: str


@dataclass
class Plan:
    assign: dict[int, str] = field(default_factory=dict)  # connection -> listener (new or moved)
    unassign: set[int] = field(default_factory=set)
    statuses: list[StatusChange] = field(default_factory=list)
    moved: int = 0
    unplaced: int = 0


def _load(assignments: dict[int, str], live: dict[str, dict[str, Any]]) -> dict[str, int]:
    load = dict.fromkeys(live, 0)
    for owner in assignments.values():
        if owner in load:
            load[owner] += 1
    return load


def _capacity(beat: dict[str, Any]) -> int:
    return int(beat.get("capacity") or settings.MQTT_LISTENER_CAPACITY)


def _least_loaded(load: dict[str, int], live: dict[str, dict[str, Any]]) -> str | None:
    open_ = [lid for lid in load if load[lid] < _capacity(live[lid])]
    return min(open_, key=lambda lid: (load[lid] / _capacity(live[lid]), load[lid], lid)) if open_ else None


def plan(desired: list[Desired], live: dict[str, dict[str, Any]], assignments: dict[int, str], now: float) -> Plan:
    """Decide assignment and status changes. Healthy connections on live listeners stay where they are
    unless the imbalance between listeners exceeds a slack (see `_rebalance`)."""
    result = Plan()
    current = dict(assignments)
    by_id = {item.id: item for item in desired}
    for cid, owner in assignments.items():
        item = by_id.get(cid)
        if item is None or not item.is_active:
            result.unassign.add(cid)
            del current[cid]
            if item is not None:
                status = ConnectionStatus.STOPPING if owner in live else ConnectionStatus.STOPPED
                result.statuses.append(StatusChange(cid, status, "", owner, now))
    load = _load(current, live)
    for item in desired:
        if not item.is_active:
            if item.id not in assignments and item.status != ConnectionStatus.STOPPED:
                result.statuses.append(StatusChange(item.id, ConnectionStatus.STOPPED, "", "", now))
            continue
        holder = current.get(item.id)
        if holder in live:
            continue
        target = _least_loaded(load, live)
        if target is None:
            result.unplaced += 1
            continue
        load[target] += 1
        current[item.id] = result.assign[item.id] = target
        if holder is None:
            result.statuses.append(StatusChange(item.id, ConnectionStatus.STARTING, "", target, now))
        else:
            result.moved += 1
            detail = f"listener {holder} is gone; moved to {target}"
            result.statuses.append(
                StatusChange(item.id, ConnectionStatus.STARTING, detail, target, now, ConnectionEvent.REASSIGNED)
            )
    _rebalance(result, by_id, live, current, load, now)
    return result


def _rebalance(
    result: Plan,
    by_id: dict[int, Desired],
    live: dict[str, dict[str, Any]],
    current: dict[int, str],
    load: dict[str, int],
    now: float,
) -> None:
    """Move connections only when the busiest listener holds more than `slack` above the idlest one, and
    then unhealthy connections first: a new listener gets a share without a storm of reconnects."""
    if len(live) < 2:
        return
    slack = max(2, math.ceil(0.25 * sum(load.values()) / len(live)))
    while True:
        busiest = max(load, key=lambda lid: (load[lid], lid))
        idlest = _least_loaded(load, live)
        if idlest is None or load[busiest] - load[idlest] <= slack:
            return
        held = [cid for cid, owner in current.items() if owner == busiest]
        cid = min(held, key=lambda c: (by_id[c].status not in UNHEALTHY, c))
        load[busiest] -= 1
        load[idlest] += 1
        current[cid] = result.assign[cid] = idlest
        result.moved += 1
        detail = f"rebalanced from {busiest} to {idlest}"
        result.statuses.append(
            StatusChange(cid, ConnectionStatus.STARTING, detail, idlest, now, ConnectionEvent.REASSIGNED)
        )


def run_reconcile() -> dict[str, Any]:
    """One reconcile cycle. Returns a small summary (also stored in Redis for /api/health)."""
    started = time.perf_counter()
    client = coordination.connect()
    ttl = max(10.0, float(getattr(settings, "MQTT_RECONCILE_INTERVAL", 30)))
    lock = client.lock(coordination.lock_key(), timeout=ttl, blocking_timeout=ttl / 2)
    if not lock.acquire():
        logger.warning("another reconcile held the lock for too long; skipping this one")
        return {"skipped": "locked"}
    try:
        summary, recorded = _reconcile_locked(client)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - the lock expired under us: the next run corrects anything
            logger.warning("the reconcile lock expired before release", exc_info=True)
    broadcast_statuses(recorded)  # after the lock: other runs need not wait for the channel layer
    summary["seconds"] = round(time.perf_counter() - started, 4)
    coordination.record_reconcile(client, summary)
    client.close()
    logger.info("reconcile: %s", summary)
    return summary


def _reconcile_locked(client: Any) -> tuple[dict[str, Any], list[int]]:  # noqa: ANN401 - a redis client
    desired = [Desired(*row) for row in MqttConnection.objects.values_list("pk", "is_active", "status")]
    live = coordination.live_listeners(client)
    assignments = coordination.read_assignments(client)
    result = plan(desired, live, assignments, time.time())
    # The database first: the listeners' own reports (connected...) then never wait behind this write.
    recorded = record_statuses(result.statuses, broadcast=False) if result.statuses else []
    if result.assign or result.unassign:
        coordination.write_assignments(client, result.assign, result.unassign)
        touched = {result.assign[cid] for cid in result.assign}
        touched |= {assignments[cid] for cid in result.unassign | set(result.assign) if cid in assignments}
        if touched & set(live):
            coordination.notify(client, touched & set(live))
    summary = {
        "connections": len(desired),
        "active": sum(1 for item in desired if item.is_active),
        "listeners": len(live),
        "assigned": len(result.assign),
        "unassigned": len(result.unassign),
        "moved": result.moved,
        "unplaced": result.unplaced,
        "status_changes": len(recorded),
    }
    return summary, recorded
