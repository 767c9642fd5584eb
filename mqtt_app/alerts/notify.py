"""The notification of an alert's firing and resolution: the stable webhook body, grouping, and hand-over.

Per evaluation round, the changes going to one destination (same type and target) are counted: fewer than
MQTT_ALERT_GROUP_THRESHOLD go one message each, more go as one message listing them all (a broker outage
that silences 300 topics sends one e-mail, not 300). Delivery is a Celery task (tasks.alerts.deliver) that
retries with backoff; the WebSocket event and the Sentry report (and resolution) are sent from here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from .models import Alert, AlertState, NotificationChannel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    alert: Alert
    state: str  # firing or resolved
    reminder: bool = False


def page_url(alert: Alert) -> str:
    base = str(settings.MQTT_PUBLIC_URL).rstrip("/")
    if alert.topic_id:
        return f"{base}/topics/{alert.topic_id}/"
    if alert.connection_id:
        return f"{base}/connections/{alert.connection_id}/"
    return f"{base}/alerts/"


def body(alert: Alert, state: str, reminder: bool = False) -> dict[str, Any]:
    """The webhook body (documented in docs/alerts.md: keep it stable)."""
    rule = alert.rule
    return {
        "state": state,
        "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
        "site": alert.site_id,
        "connection": alert.connection_id,
        "topic": alert.topic_id,
        "subject": alert.subject,
        "since": alert.since.isoformat(),
        "value": alert.value,
        "url": page_url(alert),
        "alert": alert.pk,
        "reminder": reminder,
    }


def grouped(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return {"state": "grouped", "count": len(bodies), "alerts": bodies}


def dispatch(changes: list[Change], now: datetime) -> None:
    if not changes:
        return
    firing = [c.alert.pk for c in changes if c.state == AlertState.FIRING and not c.reminder]
    Alert.objects.filter(pk__in=firing).update(last_notified_at=now)
    enqueue(messages_by_channel(changes))
    announce(changes)


def announce(changes: list[Change]) -> None:
    """The WebSocket event and the Sentry report of these changes."""
    from .live import broadcast_changes
    from .reporting import report_firing, report_resolved

    broadcast_changes(changes)
    report_firing([c.alert for c in changes if c.state == AlertState.FIRING and not c.reminder])
    report_resolved([c.alert for c in changes if c.state == AlertState.RESOLVED])


def messages_by_channel(changes: list[Change]) -> list[tuple[NotificationChannel, dict[str, Any]]]:
    """(channel, message) pairs: one per change, or one group per destination past the threshold."""
    rules = {c.alert.rule_id for c in changes}
    channels = defaultdict(list)
    for channel in NotificationChannel.objects.filter(rule_id__in=rules):
        channels[channel.rule_id].append(channel)
    per_destination: dict[tuple[str, str], list[tuple[NotificationChannel, dict[str, Any]]]] = defaultdict(list)
    for change in changes:
        for channel in channels[change.alert.rule_id]:
            message = body(change.alert, change.state, change.reminder)
            per_destination[(channel.type, channel.target)].append((channel, message))
    threshold = int(settings.MQTT_ALERT_GROUP_THRESHOLD)
    messages = []
    for items in per_destination.values():
        if len(items) >= threshold:
            messages.append((items[0][0], grouped([message for _, message in items])))
        else:
            messages.extend(items)
    return messages


def enqueue(messages: list[tuple[NotificationChannel, dict[str, Any]]], sealed: bool = False) -> None:
    """`sealed`: each task carries its channel (encrypted), for channels deleted before the task runs."""
    from tasks.alerts import deliver

    from .channels import seal

    for channel, message in messages:
        extra = {"sealed": seal(channel)} if sealed else {}
        try:
            deliver.delay(channel.pk, message, **extra)
        except Exception:  # the broker being away must not undo the evaluation: the state is in the database
            logger.exception("could not queue the notification of channel %s", channel.pk)
