"""`GET /api/health` (no auth): database, Redis, live listeners, last reconcile. 503 when degraded.

Degraded: the database, Redis or the Celery broker does not answer, or there are connections to run
(`is_active`) while no listener is alive or reconciliation has not run for three intervals. With nothing to
run, missing listeners are fine. Listeners and the last reconcile are read through mqtt_app.coordination,
which owns the keys.
`broker` shows the queue depths on Redis or RabbitMQ; `warnings` lists risks that leave the stack working but
could lose queued batches (a Redis broker without persistence or with an evicting policy): they do not make it
degraded, as a load balancer must not pull an instance for them.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Field, Router, Status

from mqtt_app import coordination
from mqtt_app.models import MqttConnection
from mqtt_app.observability import broker
from project.broker import QUEUES

from .schemas import Out

logger = logging.getLogger(__name__)
router = Router(tags=["health"])
REDIS_TIMEOUT = 1.0  # seconds: a health check must answer even when Redis hangs


class CheckOut(Out):
    ok: bool
    error: str = ""


class BrokerOut(Out):
    kind: str = Field(description="'redis' or 'rabbitmq'.")
    ok: bool
    error: str = ""
    queues: dict[str, int] | None = Field(description="Tasks waiting in each Celery queue.")
    persistence: str | None = Field(None, description="Redis only: 'aof', 'rdb', 'none' or 'unknown'.")
    maxmemory_policy: str | None = Field(None, description="Redis only: its eviction policy, or 'unknown'.")


class HealthOut(Out):
    status: str = Field(description="'ok' or 'degraded'.")
    problems: list[str]
    database: CheckOut
    redis: CheckOut
    broker: BrokerOut
    warnings: list[str] = Field(description="Risks of losing queued batches; they do not make the status degraded.")
    listeners: int = Field(description="Live listener processes (unexpired heartbeats).")
    active_connections: int | None
    last_reconcile_at: datetime | None
    last_reconcile_age: float | None = Field(description="Seconds since the last reconcile.")
    last_reconcile: dict[str, Any] | None = Field(description="The last reconcile's summary, as it recorded it.")


def _database() -> tuple[CheckOut, int | None]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return CheckOut(ok=True), MqttConnection.objects.filter(is_active=True).count()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        logger.warning("health: database check failed: %s", exc)
        return CheckOut(ok=False, error=exc.__class__.__name__), None


def _redis() -> tuple[CheckOut, int, dict[str, Any] | None]:
    client = coordination.connect(timeout=REDIS_TIMEOUT)
    try:
        return CheckOut(ok=True), len(coordination.live_listeners(client)), _last_reconcile(client)
    except redis.RedisError as exc:
        logger.warning("health: Redis check failed: %s", exc)
        return CheckOut(ok=False, error=exc.__class__.__name__), 0, None
    finally:
        client.close()


def _last_reconcile(client: redis.Redis) -> dict[str, Any] | None:
    """The reconcile summary; tolerates a bare epoch number (an older writer) and garbage (→ None)."""
    try:
        summary = coordination.last_reconcile(client)
    except ValueError:
        return None
    if isinstance(summary, int | float):
        summary = {"at": float(summary)}
    if not isinstance(summary, dict) or not isinstance(summary.get("at"), int | float):
        return None
    return summary


def _problems(
    db: CheckOut, cache: CheckOut, queue: BrokerOut, active: int | None, listeners: int, age: float | None
) -> list[str]:
    problems = []
    if not db.ok:
        problems.append("the database does not answer")
    if not cache.ok:
        problems.append("Redis does not answer")
    if not queue.ok and (queue.kind != "redis" or cache.ok):  # the same Redis: said once
        problems.append(f"the Celery broker ({queue.kind}) does not answer")
    if active and cache.ok:
        if listeners == 0:
            problems.append(f"{active} active connection(s) but no live listener")
        if age is None or age > 3 * settings.MQTT_RECONCILE_INTERVAL:
            problems.append("reconciliation has not run recently (is beat running?)")
    return problems


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None, summary="Health of the stack")
def health(request: HttpRequest) -> Status:
    db, active = _database()
    cache, listeners, summary = _redis()
    last = summary["at"] if summary else None
    age = max(time.time() - last, 0.0) if last is not None else None
    state = broker.status(settings.CELERY_BROKER_URL, QUEUES, REDIS_TIMEOUT)
    warnings = state.pop("warnings")
    queue = BrokerOut(**state)
    problems = _problems(db, cache, queue, active, listeners, age)
    body = {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "database": db,
        "redis": cache,
        "broker": queue,
        "warnings": warnings,
        "listeners": listeners,
        "active_connections": active,
        "last_reconcile_at": datetime.fromtimestamp(last, tz=UTC) if last is not None else None,
        "last_reconcile_age": age,
        "last_reconcile": summary,
    }
    return Status(503 if problems else 200, body)
