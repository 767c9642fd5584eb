"""`GET /api/health` (no auth): database, Redis, live listeners, last reconcile. 503 when degraded.

Degraded: the database or Redis does not answer, or there are connections to run (`is_active`) while no
listener is alive or reconciliation has not run for three intervals. With nothing to run, missing listeners
are fine. Key names follow the listener registry contract (`<prefix>:listener:<id>`, `<prefix>:reconcile:last`).
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from mqtt_app.models import MqttConnection

logger = logging.getLogger(__name__)
router = Router(tags=["health"])
REDIS_TIMEOUT = 1.0  # seconds: a health check must answer even when Redis hangs


class CheckOut(Schema):
    ok: bool
    error: str = ""


class HealthOut(Schema):
    status: str = Field(description="'ok' or 'degraded'.")
    problems: list[str]
    database: CheckOut
    redis: CheckOut
    listeners: int = Field(description="Live listener processes (unexpired heartbeats).")
    active_connections: int | None
    last_reconcile_at: datetime | None
    last_reconcile_age: float | None = Field(description="Seconds since the last reconcile.")


def _database() -> tuple[CheckOut, int | None]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return CheckOut(ok=True), MqttConnection.objects.filter(is_active=True).count()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        logger.warning("health: database check failed: %s", exc)
        return CheckOut(ok=False, error=exc.__class__.__name__), None


def _redis() -> tuple[CheckOut, int, float | None]:
    prefix = settings.REDIS_KEY_PREFIX
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )
    try:
        listeners = sum(1 for _ in client.scan_iter(match=f"{prefix}:listener:*", count=1000))
        raw = client.get(f"{prefix}:reconcile:last")
        return CheckOut(ok=True), listeners, _epoch(raw)
    except redis.RedisError as exc:
        logger.warning("health: Redis check failed: %s", exc)
        return CheckOut(ok=False, error=exc.__class__.__name__), 0, None
    finally:
        client.close()


def _epoch(raw: bytes | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _problems(db: CheckOut, cache: CheckOut, active: int | None, listeners: int, age: float | None) -> list[str]:
    problems = []
    if not db.ok:
        problems.append("the database does not answer")
    if not cache.ok:
        problems.append("Redis does not answer")
    if active and cache.ok:
        if listeners == 0:
            problems.append(f"{active} active connection(s) but no live listener")
        if age is None or age > 3 * settings.MQTT_RECONCILE_INTERVAL:
            problems.append("reconciliation has not run recently (is beat running?)")
    return problems


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None, summary="Health of the stack")
def health(request: HttpRequest) -> Status:
    db, active = _database()
    cache, listeners, last = _redis()
    age = max(time.time() - last, 0.0) if last is not None else None
    problems = _problems(db, cache, active, listeners, age)
    body = {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "database": db,
        "redis": cache,
        "listeners": listeners,
        "active_connections": active,
        "last_reconcile_at": datetime.fromtimestamp(last, tz=UTC) if last is not None else None,
        "last_reconcile_age": age,
    }
    return Status(503 if problems else 200, body)
