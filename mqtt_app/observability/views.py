"""`/metrics` (Prometheus) and `/health/metrics.json` (the success metrics, for the UI and scripts).

Access: `Authorization: Bearer <METRICS_TOKEN>` when that setting is set (everything); otherwise (and also) a
superuser session for /metrics (its labels name every site and connection), and any logged-in session for the
JSON report, which then holds the connections of the sites the user holds a role on (mqtt_app.access).
"""

from __future__ import annotations

import hmac
import re

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mqtt_app import access

from . import health, metrics

WINDOW_RE = re.compile(r"^(\d{1,9})([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def bearer_ok(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if not token or not header.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def _denied(request: HttpRequest, *, superuser: bool) -> HttpResponse | None:
    """None when allowed; else 401 (who are you?) or 403 (logged in, not allowed)."""
    user = request.user
    if bearer_ok(request) or (
        user.is_authenticated and user.is_active and (access.is_everything(user) or not superuser)
    ):
        return None
    if user.is_authenticated:
        return JsonResponse({"detail": "Superusers only (or the METRICS_TOKEN bearer token)."}, status=403)
    response = JsonResponse({"detail": "Authentication required: a Bearer token or a session."}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    denied = _denied(request, superuser=True)
    if denied:
        return denied
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


def parse_window(raw: str) -> int:
    """'3600', '90m', '24h', '7d' -> seconds, within [1 minute, 31 days]."""
    match = WINDOW_RE.match(raw.strip().lower())
    if not match:
        raise ValueError(f"window={raw!r} is not a duration like 3600, 90m, 24h or 7d.")
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if not health.MIN_WINDOW <= seconds <= health.MAX_WINDOW:
        raise ValueError(f"window must be between {health.MIN_WINDOW} s and {health.MAX_WINDOW // 86400} days.")
    return seconds


@require_GET
def health_metrics_json(request: HttpRequest) -> HttpResponse:
    denied = _denied(request, superuser=False)
    if denied:
        return denied
    try:
        window = parse_window(request.GET.get("window", "3600"))
        ids = [int(value) for value in request.GET.getlist("connection")] or None
    except ValueError as exc:
        message = str(exc) if "window" in str(exc) else "connection must be a whole number (a connection id)."
        return JsonResponse({"detail": message}, status=400)
    allowed = None if bearer_ok(request) else access.connection_ids(request.user)
    if allowed is not None:
        ids = sorted(allowed if ids is None else set(ids) & allowed)
    # Every open dashboard asks every 30 s; the figures change slowly, so share one computation per
    # window and connection list for METRICS_HEALTH_CACHE_SECONDS (per process, Django's default cache).
    # "all" and "none of them" (a user without a role) must not share an entry.
    key = f"mqtt:health:{window}:{'all' if ids is None else ','.join(map(str, sorted(ids))) or 'none'}"
    report = cache.get(key)
    if report is None:
        report = health.compute(window, ids)
        cache.set(key, report, settings.METRICS_HEALTH_CACHE_SECONDS)
    return JsonResponse(report)
