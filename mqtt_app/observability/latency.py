"""Latency samples in Redis for the success targets (API p99 < 200 ms, WebSocket latency < 500 ms).

Each kind ("api", "websocket") is a capped Redis list of "epoch:seconds:error" entries, shared by every process,
so the health module can compute a percentile over a window. Recording never raises: a metric must not break
a request.

- `ApiLatencyMiddleware` records every /api/ request (and whether it answered 5xx).
- The WebSocket side records with `record_latency("websocket", now - event.published_at)` when it pushes a
  readings event (published_at is the batch's receive time, so this is broker-to-browser-push latency).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis as redis_lib
from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

MAX_SAMPLES = 5000
_clients: dict[str, redis_lib.Redis] = {}


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    seconds: float
    error: bool


def redis_client(url: str | None = None) -> redis_lib.Redis:
    """A pooled client per URL with short timeouts (metrics must answer even when Redis is slow)."""
    url = url or settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis_lib.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return _clients[url]


def latency_key(kind: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:latency:{kind}"


def record_latency(kind: str, seconds: float, *, error: bool = False, at: float | None = None) -> None:
    entry = f"{at if at is not None else time.time():.3f}:{max(seconds, 0.0):.6f}:{int(error)}"
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.lpush(latency_key(kind), entry)
        pipe.ltrim(latency_key(kind), 0, MAX_SAMPLES - 1)
        pipe.execute()
    except redis_lib.RedisError:
        logger.debug("could not record a %s latency sample", kind, exc_info=True)


def samples(kind: str, since: float) -> list[Sample]:
    """The recorded samples of `kind` newer than `since` (epoch seconds), newest first."""
    try:
        raw = redis_client().lrange(latency_key(kind), 0, MAX_SAMPLES - 1)
    except redis_lib.RedisError:
        logger.warning("could not read %s latency samples", kind, exc_info=True)
        return []
    found = []
    for item in raw:
        try:
            at, seconds, error = (item.decode() if isinstance(item, bytes) else item).split(":")
            sample = Sample(float(at), float(seconds), error == "1")
        except ValueError:
            continue  # a foreign or truncated entry
        if sample.at >= since:
            found.append(sample)
    return found


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: the value some request really took)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class ApiLatencyMiddleware:
    """Add to MIDDLEWARE (first) to record how long each /api/ request took."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        record_latency("api", time.perf_counter() - started, error=response.status_code >= 500)
        return response
