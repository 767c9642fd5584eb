"""Sentry: each firing alert reported once, grouped per rule and subject (an alert that fires again later joins
the same issue), and tagged `alert_key`; a no-op while Sentry is off. When the alert resolves, its issue is
resolved through Sentry's web API (the SDK cannot), with SENTRY_API_TOKEN and SENTRY_ORG set: a Celery task
(tasks.alerts.resolve_sentry_issue) retried like a webhook.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import sentry_sdk
from django.conf import settings

if TYPE_CHECKING:
    from .models import Alert

logger = logging.getLogger(__name__)


def alert_fingerprint(alert: Alert) -> list[str]:
    return ["mqtt-alert", str(alert.rule_id), alert.subject_key]


def alert_key(alert: Alert) -> str:
    """The `alert_key` tag: the fingerprint in a form Sentry's search takes as it is (a subject key has colons)."""
    return hashlib.sha256("\x1f".join(alert_fingerprint(alert)).encode()).hexdigest()[:24]


def report_firing(alerts: list[Alert]) -> None:
    if not alerts or not sentry_sdk.get_client().is_active():
        return
    for alert in alerts:
        rule = alert.rule
        event: dict[str, Any] = {
            "level": "error",
            "logger": "mqtt.alerts",
            "message": f"Alert {rule.name} ({rule.kind}) firing on {alert.subject_key}",
            "fingerprint": alert_fingerprint(alert),
            "extra": {"subject": alert.subject, "since": alert.since.isoformat(), "value": alert.value},
        }
        with sentry_sdk.new_scope() as scope:
            tags = {"alert_rule": str(rule.pk), "alert_kind": rule.kind, "site": str(alert.site_id),
                    "alert_key": alert_key(alert)}  # fmt: skip
            if alert.connection_id:
                tags["connection"] = str(alert.connection_id)
            for key, value in tags.items():
                scope.set_tag(key, value)
            sentry_sdk.capture_event(event)  # type: ignore[arg-type] # a dict with Event's keys


def report_resolved(alerts: list[Alert]) -> None:
    """Ask for the resolution of these alerts' Sentry issues; without a token, Sentry's auto-resolve applies."""
    if not alerts or not (settings.SENTRY_API_TOKEN and settings.SENTRY_ORG):
        return
    from tasks.alerts import resolve_sentry_issue

    for key in sorted({alert_key(alert) for alert in alerts}):
        try:
            resolve_sentry_issue.delay(key)
        except Exception:  # the broker being away must not undo the evaluation
            logger.exception("could not queue the resolution of Sentry issue %s", key)


def resolve_issue(key: str) -> bool:
    """PUT {SENTRY_API_URL}/api/0/organizations/{org}/issues/ (bulk mutate) {"status": "resolved"} for the
    unresolved issues tagged alert_key:<key>. Raises DeliveryError when worth retrying; False when refused."""
    from .channels import http_call

    query = urlencode({"query": f"is:unresolved alert_key:{key}", "project": "-1"})  # -1: every project
    url = f"{settings.SENTRY_API_URL}/api/0/organizations/{quote(settings.SENTRY_ORG, safe='')}/issues/?{query}"
    headers = {"Authorization": f"Bearer {settings.SENTRY_API_TOKEN}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, json.dumps({"status": "resolved"}).encode(), headers, method="PUT")  # noqa: S310 - the operator's own URL
    refused = http_call(urllib.request.build_opener(), request, "Sentry")
    if refused:
        logger.warning("Sentry refused to resolve the issue of alert_key %s: %s", key, refused)
    return not refused


def connection_error_fingerprint(connection_id: int) -> list[str]:
    return ["mqtt-connection-error", str(connection_id)]


def report_connection_errors(errors: list[tuple[int, str]]) -> None:
    """A connection that went to `error` (refused login, bad TLS, unreachable broker past its retries): one event,
    grouped per connection, and not again from this process within the grouping window (a listener retrying
    every few minutes would otherwise send one each time)."""
    if not errors or not sentry_sdk.get_client().is_active():
        return
    from mqtt_app.observability.sentry import _should_send

    for connection_id, detail in errors:
        fingerprint = connection_error_fingerprint(connection_id)
        if not _should_send(tuple(fingerprint)):
            continue
        event: dict[str, Any] = {
            "level": "error",
            "logger": "mqtt.connections",
            "message": f"Connection {connection_id} went to error",
            "fingerprint": fingerprint,
            "extra": {"detail": detail[:1000]},
        }
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("connection", str(connection_id))
            sentry_sdk.capture_event(event)  # type: ignore[arg-type] # a dict with Event's keys
