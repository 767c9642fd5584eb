"""Sentry: each firing alert reported once, grouped per rule and subject (an alert that fires again later joins
the same issue). A no-op while Sentry is off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sentry_sdk

if TYPE_CHECKING:
    from .models import Alert


def alert_fingerprint(alert: Alert) -> list[str]:
    return ["mqtt-alert", str(alert.rule_id), alert.subject_key]


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
            tags = {"alert_rule": str(rule.pk), "alert_kind": rule.kind, "site": str(alert.site_id)}
            if alert.connection_id:
                tags["connection"] = str(alert.connection_id)
            for key, value in tags.items():
                scope.set_tag(key, value)
            sentry_sdk.capture_event(event)  # type: ignore[arg-type] # a dict with Event's keys


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
