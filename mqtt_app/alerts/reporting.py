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
