"""One evaluation round: open alerts for new findings, resolve what cleared, remind, then notify.

Safe on several beat or worker processes at once: an alert is opened by an INSERT the partial unique constraint
lets through once, and resolved by a conditional UPDATE, so each firing and each resolution is notified once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mqtt_app.models import MqttConnection

from . import evaluate
from .models import Alert, AlertRule, AlertState
from .notify import Change, dispatch

logger = logging.getLogger(__name__)


@dataclass
class Summary:
    rules: int = 0
    fired: int = 0
    resolved: int = 0
    reminded: int = 0
    failed_rules: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rules": self.rules, "fired": self.fired, "resolved": self.resolved, "reminded": self.reminded,
                "failed_rules": self.failed_rules}  # fmt: skip


def evaluate_all(now: datetime | None = None) -> Summary:
    now = now or timezone.now()
    summary = Summary()
    changes: list[Change] = []
    for rule in AlertRule.objects.filter(is_enabled=True).select_related("site"):
        summary.rules += 1
        try:
            changes += evaluate_rule(rule, now)
        except Exception:  # one broken rule must not keep the others from being evaluated
            logger.exception("alert rule %s (%s) could not be evaluated", rule.pk, rule.kind)
            summary.failed_rules.append(rule.pk)
    changes += _resolve_disabled(now)
    reminders = due_reminders(now)
    summary.fired = sum(1 for c in changes if c.state == AlertState.FIRING)
    summary.resolved = sum(1 for c in changes if c.state == AlertState.RESOLVED)
    summary.reminded = len(reminders)
    dispatch(changes + reminders, now)
    if changes:
        logger.info("alerts: %s", summary.as_dict())
    return summary


def evaluate_rule(rule: AlertRule, now: datetime, only: set[int] | None = None) -> list[Change]:
    """Open and resolve the rule's alerts; `only`: a value rule on these connections alone (its alerts on others
    are left as they are)."""
    verdict = evaluate.find(rule, now, only)
    still_open = Alert.objects.filter(rule=rule, resolved_at__isnull=True)
    if only is not None:
        still_open = still_open.filter(connection_id__in=only)
    open_alerts = {a.subject_key: a for a in still_open}
    changes = []
    for key, finding in verdict.firing.items():
        if key not in open_alerts and (alert := open_alert(rule, finding, now)) is not None:
            changes.append(Change(alert, AlertState.FIRING))
    for key, alert in open_alerts.items():
        if key not in verdict.firing and key not in verdict.held and resolve(alert, now):
            changes.append(Change(alert, AlertState.RESOLVED))
    return changes


def evaluate_values(connection_ids: list[int], now: datetime | None = None) -> Summary:
    """The value rules (threshold, device_offline) covering these connections, on them alone: what the ingest
    hook asks for right after their readings were stored."""
    now = now or timezone.now()
    only = set(connection_ids)
    sites = set(MqttConnection.objects.filter(pk__in=only).values_list("site_id", flat=True))
    rules = AlertRule.objects.filter(is_enabled=True, kind__in=evaluate.VALUE_KINDS, site_id__in=sites).filter(
        Q(connection__isnull=True) | Q(connection_id__in=only)
    )
    summary, changes = Summary(), []
    for rule in rules:
        summary.rules += 1
        try:
            changes += evaluate_rule(rule, now, only)
        except Exception:  # one broken rule must not keep the others from being evaluated
            logger.exception("alert rule %s (%s) could not be evaluated", rule.pk, rule.kind)
            summary.failed_rules.append(rule.pk)
    summary.fired = sum(1 for c in changes if c.state == AlertState.FIRING)
    summary.resolved = len(changes) - summary.fired
    dispatch(changes, now)
    return summary


def open_alert(rule: AlertRule, finding: evaluate.Finding, now: datetime) -> Alert | None:
    """The new alert, or None if another evaluation opened it first."""
    try:
        with transaction.atomic():
            return Alert.objects.create(
                rule=rule, site_id=rule.site_id, connection_id=finding.connection_id, topic_id=finding.topic_id,
                subject_key=finding.key, subject=finding.subject[:300], value=finding.value, since=finding.since,
                fired_at=now,
            )  # fmt: skip
    except IntegrityError:
        return None


def resolve(alert: Alert, now: datetime) -> bool:
    """Resolve an open alert; False if another evaluation (or a deleted rule) got there first."""
    done = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
        state=AlertState.RESOLVED, resolved_at=now
    )
    alert.state, alert.resolved_at = AlertState.RESOLVED, now
    return done == 1


def _resolve_disabled(now: datetime) -> list[Change]:
    stale = Alert.objects.filter(resolved_at__isnull=True, rule__is_enabled=False).select_related("rule")
    return [Change(alert, AlertState.RESOLVED) for alert in stale if resolve(alert, now)]


def due_reminders(now: datetime) -> list[Change]:
    """Firing (not acknowledged) alerts last notified a reminder interval ago; claimed by a conditional UPDATE."""
    interval = int(settings.MQTT_ALERT_REMINDER_SECONDS)
    if interval <= 0:
        return []
    due = Alert.objects.filter(state=AlertState.FIRING, last_notified_at__lte=now - timedelta(seconds=interval))
    reminders = []
    for alert in due.select_related("rule"):
        claimed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING, last_notified_at=alert.last_notified_at)
        if claimed.update(last_notified_at=now):
            reminders.append(Change(alert, AlertState.FIRING, reminder=True))
    return reminders


def acknowledge(alert: Alert, user: object, now: datetime | None = None) -> bool:
    """Firing → acknowledged (no more reminders). False if it was not firing."""
    now = now or timezone.now()
    name = getattr(user, "username", "") or ""
    done = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by_id=getattr(user, "pk", None),
        acknowledged_by_name=name,
    )  # fmt: skip
    if done:
        alert.refresh_from_db()
    return bool(done)
