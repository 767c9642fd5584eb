"""Sentry helpers: tags for site/connection/topic, grouped parse failures, a scrubber, the reconcile monitor.

Everything here is a no-op while Sentry is off (no SENTRY_DSN): `sentry_sdk` calls without a client do nothing.

- `set_connection_tags(...)` (views, tasks) and `connection_scope(...)` (a block in a long-running loop): tag
  events with site, connection and topic.
- `capture_parse_failure(...)`: one Sentry event for a parse failure, fingerprinted by (connection, topic
  pattern, parser, error kind, error location), so a broken device makes one issue, not thousands. It is also
  throttled per fingerprint in this process (MQTT_PARSE_ERROR_GROUP_WINDOW), so it does not eat the quota.
- `scrub_event` / `scrub_breadcrumb`: `before_send` hooks removing broker passwords, session cookies, tokens
  and Authorization headers, by key anywhere in the event and by pattern inside strings.
- `reconcile_check_in`: the reconcile task as a Sentry cron monitor (see `project/sentry.py` for why it is a
  heartbeat check-in rather than `monitor_beat_tasks`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sentry_sdk
from paho.mqtt.client import topic_matches_sub

from mqtt_app.ingest.grouping import group_location

logger = logging.getLogger(__name__)

REDACTED = "[Filtered]"
RECONCILE_MONITOR_SLUG = "mqtt-reconcile"
RECONCILE_TASK = "tasks.reconcile.reconcile"

# Keys whose values are secrets wherever they appear (request headers, cookies, frame locals, task kwargs).
SECRET_KEY_RE = re.compile(
    r"pass(word|wd)?|pwd|secret|token|api[_-]?key|authorization|auth[_-]?header|cookie|session|csrf|"
    r"credential|private[_-]?key|tls_client_key|dsn|basic[_-]?auth",
    re.IGNORECASE,
)
# Secrets inside free text: URL credentials, bearer/basic values, key=value pairs, session cookies.
SECRET_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.IGNORECASE), REDACTED),
    (re.compile(r"(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), REDACTED),
    (
        re.compile(
            r"(?P<keep>\b(?:password|passwd|pwd|secret|token|api[_-]?key|sessionid|csrftoken|session)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&}]+",
            re.IGNORECASE,
        ),
        REDACTED,
    ),
)
_MAX_DEPTH = 20

# Local throttle for parse failures: fingerprint -> monotonic time of the last event sent.
_last_sent: dict[tuple[str, ...], float] = {}
_last_sent_lock = threading.Lock()
_MAX_THROTTLE_ENTRIES = 10_000


# --- tags -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def connection_scope(
    connection_id: int | None = None, site: str = "", topic: str = "", **extra_tags: str
) -> Iterator[None]:
    """Tag every event captured inside the block with the connection, its site and the topic."""
    with sentry_sdk.new_scope() as scope:
        for key, value in _tags(connection_id, site, topic).items():
            scope.set_tag(key, value)
        for key, value in extra_tags.items():
            scope.set_tag(key, value)
        yield


def set_connection_tags(connection_id: int | None = None, site: str = "", topic: str = "") -> None:
    """Tag the current request's or task's events (Django and Celery give each its own isolation scope).
    Use this in views and tasks: their exceptions are captured after the code has unwound, so a
    `connection_scope` block would already be closed by then."""
    for key, value in _tags(connection_id, site, topic).items():
        sentry_sdk.set_tag(key, value)


def _tags(connection_id: int | None, site: str, topic: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    if connection_id is not None:
        tags["connection"] = str(connection_id)
    if site:
        tags["site"] = str(site)[:200]
    if topic:
        tags["topic"] = str(topic)[:200]  # Sentry tag values are limited to 200 characters
    return tags


# --- parse failures ---------------------------------------------------------------------------------
def topic_pattern(topic: str, topic_filters: Sequence[str] = ()) -> str:
    """A stable pattern for a topic: the parser filter it matched, else the topic with its device-like levels
    (anything holding a digit) replaced by '+', so many devices of one kind failing alike make one issue."""
    for topic_filter in topic_filters:
        try:
            if topic_matches_sub(topic_filter, topic):
                return topic_filter
        except (ValueError, TypeError):
            continue
    return "/".join("+" if any(ch.isdigit() for ch in level) else level for level in topic.split("/"))


def parse_failure_fingerprint(
    connection_id: int, topic: str, parser: str, kind: str, location: str, topic_filters: Sequence[str] = ()
) -> list[str]:
    return [
        "mqtt-parse-failure",
        str(connection_id),
        topic_pattern(topic, topic_filters),
        parser or "-",
        kind or "-",
        group_location(kind, location) or "-",  # the same grouping as the errors inbox: one issue per device fault
    ]


def capture_parse_failure(
    *,
    connection_id: int,
    topic: str,
    parser: str,
    kind: str,
    location: str = "",
    message: str = "",
    site: str = "",
    details: list[dict[str, Any]] | None = None,
    payload_excerpt: str = "",
    count: int = 1,
    topic_filters: Sequence[str] = (),
) -> str | None:
    """Report one parse failure (or a group of `count` identical ones) to Sentry. Returns the event id, or
    None when Sentry is off or the same fingerprint was sent less than the grouping window ago."""
    fingerprint = parse_failure_fingerprint(connection_id, topic, parser, kind, location, topic_filters)
    if not sentry_sdk.get_client().is_active() or not _should_send(tuple(fingerprint)):
        return None
    pattern = fingerprint[2]
    tags = {
        **_tags(connection_id, site, topic),
        "parser": parser or "-",
        "parse_error": kind,
        "topic_pattern": pattern[:200],
    }
    event: dict[str, Any] = {
        "level": "warning",
        "logger": "mqtt.parsing",
        # A stable title: the varying parts (values, full topic) go to tags and extra.
        "message": f"Parse failure ({kind}) by {parser or 'no parser'} on {pattern} at {location or '-'}",
        "fingerprint": fingerprint,
        "extra": {
            "error_message": message[:1000],
            "location": location,
            "details": (details or [])[:20],
            "payload_excerpt": payload_excerpt[:500],
            "occurrences": count,
        },
    }
    # Scope tags override event tags, so set ours on a fresh scope: a caller's older tags cannot win.
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        return sentry_sdk.capture_event(event)  # type: ignore[arg-type] # a dict with Event's keys


def _should_send(key: tuple[str, ...]) -> bool:
    from django.conf import settings

    window = float(getattr(settings, "MQTT_PARSE_ERROR_GROUP_WINDOW", 300))
    now = time.monotonic()
    with _last_sent_lock:
        last = _last_sent.get(key)
        if last is not None and now - last < window:
            return False
        if len(_last_sent) >= _MAX_THROTTLE_ENTRIES:
            _last_sent.clear()  # bounded memory; at worst a few duplicate events after a flood of new keys
        _last_sent[key] = now
    return True


def reset_throttle() -> None:
    with _last_sent_lock:
        _last_sent.clear()


# --- scrubbing ----------------------------------------------------------------------------------------
def scrub_text(text: str) -> str:
    for pattern, replacement in SECRET_TEXT_PATTERNS:
        text = pattern.sub(_keeping(replacement), text)
    return text


def _keeping(replacement: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group("keep") + replacement


def scrub(value: Any, depth: int = 0) -> Any:  # noqa: ANN401 - any JSON-like value
    """A copy of `value` with secret-named keys filtered and secrets inside strings redacted."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _secret_key(k) else scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Header and cookie lists come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _secret_key(value[0]):
            return [value[0], REDACTED]
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _secret_key(key: Any) -> bool:  # noqa: ANN401
    return isinstance(key, str) and bool(SECRET_KEY_RE.search(key))


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry `before_send` / `before_send_transaction`: never let a credential leave the machine."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if isinstance(request.get("headers"), dict):
            request["headers"] = {
                k: REDACTED if k.lower() in {"authorization", "cookie", "x-api-key", "proxy-authorization"} else v
                for k, v in request["headers"].items()
            }
    logentry = event.get("logentry")
    if isinstance(logentry, dict) and logentry.get("params"):
        # Raw arguments carry no key to judge them by (a password passed to %s): keep only the formatted,
        # scrubbed text. Grouping uses the template in "message", so nothing is lost for grouping.
        logentry["params"] = []
    # Tags and fingerprints are ours and carry no secrets; keeping them verbatim keeps grouping stable.
    kept = {key: event[key] for key in ("fingerprint", "tags", "event_id", "timestamp") if key in event}
    cleaned = scrub(event)
    cleaned.update(kept)
    return cleaned


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return scrub(crumb)


# --- the reconcile cron monitor ---------------------------------------------------------------------
def reconcile_monitor_config() -> dict[str, Any]:
    """Sentry Crons only knows whole-minute intervals; the beat interval is rounded up to minutes."""
    from django.conf import settings

    interval = int(getattr(settings, "MQTT_RECONCILE_INTERVAL", 30))
    minutes = max(1, -(-interval // 60))
    return {
        "schedule": {"type": "interval", "value": minutes, "unit": "minute"},
        "checkin_margin": 2 * minutes,  # minutes late before "missed": a stopped beat is noticed in ~3 min
        "max_runtime": 2,
        "failure_issue_threshold": 2,
        "recovery_threshold": 1,
    }


def started_by_beat(request: Any) -> bool:  # noqa: ANN401 - a celery Context
    """django-celery-beat puts `periodic_task_name` in the headers of the tasks it sends."""
    if request is None:
        return False
    headers = getattr(request, "headers", None) or {}
    return bool(getattr(request, "periodic_task_name", None) or headers.get("periodic_task_name"))


def _first_check_in_of_interval(config: dict[str, Any]) -> bool:
    """One OK check-in per monitor interval across every worker (beat ticks more often than Sentry needs)."""
    from django.conf import settings

    seconds = int(config["schedule"]["value"]) * 60
    try:
        import redis as redis_lib

        client = redis_lib.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            key = f"{settings.REDIS_KEY_PREFIX}:sentry:reconcile-checkin"
            return bool(client.set(key, "1", nx=True, ex=max(1, seconds - 5)))
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - Redis trouble must not hide the heartbeat: send it
        return True


def reconcile_check_in(sender: Any = None, result: Any = None, **kwargs: Any) -> None:  # noqa: ANN401
    """Celery task_success / task_failure receiver: a check-in for beat-started reconcile runs only (a
    reconcile asked for by a start/stop click must not hide a stopped beat)."""
    if getattr(sender, "name", "") != RECONCILE_TASK or not started_by_beat(getattr(sender, "request", None)):
        return
    from sentry_sdk.crons import MonitorStatus, capture_checkin

    config = reconcile_monitor_config()
    failed = "exception" in kwargs
    if not failed and not _first_check_in_of_interval(config):
        return
    duration = result.get("seconds") if isinstance(result, dict) else None
    capture_checkin(
        monitor_slug=RECONCILE_MONITOR_SLUG,
        status=MonitorStatus.ERROR if failed else MonitorStatus.OK,
        duration=duration,
        monitor_config=config,  # type: ignore[arg-type] # a dict with MonitorConfig's keys
    )
