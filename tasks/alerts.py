"""Alerting: the 15-second evaluation (beat) and the delivery of each notification. Thin wrappers."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

logger = logging.getLogger(__name__)
MAX_BACKOFF = 600  # seconds between two attempts at most


@shared_task(name="tasks.alerts.evaluate", ignore_result=True)
def evaluate() -> dict:
    from mqtt_app.alerts.service import evaluate_all

    return evaluate_all().as_dict()


@shared_task(name="tasks.alerts.evaluate_values", ignore_result=True)
def evaluate_values(connection_ids: list[int]) -> dict:
    """Asked for by the ingest hook: the threshold and device_offline rules on these connections, now."""
    from mqtt_app.alerts.service import evaluate_values as run

    return run(connection_ids).as_dict()


@shared_task(bind=True, name="tasks.alerts.deliver", ignore_result=True)
def deliver(self: Task, channel_id: int, message: dict[str, Any], sealed: str | None = None) -> bool:
    """Send one message; a failure worth retrying is retried (`_retry_or_give_up`). `sealed`:
    the channel itself, encrypted, when its row is deleted before the message goes (a deleted rule)."""
    from mqtt_app.alerts.channels import DeliveryError, send

    try:
        return send(channel_id, message, sealed)
    except DeliveryError as exc:
        return _retry_or_give_up(self, exc, f"notification of channel {channel_id}")


@shared_task(bind=True, name="tasks.alerts.resolve_sentry_issue", ignore_result=True)
def resolve_sentry_issue(self: Task, alert_key: str) -> bool:
    """Resolve the Sentry issue of a resolved alert (tagged alert_key); retried like a notification."""
    from mqtt_app.alerts.channels import DeliveryError
    from mqtt_app.alerts.reporting import resolve_issue

    try:
        return resolve_issue(alert_key)
    except DeliveryError as exc:
        return _retry_or_give_up(self, exc, f"resolution of Sentry issue {alert_key}")


def _retry_or_give_up(task: Task, exc: Exception, what: str) -> bool:
    """Retry after 1, 2, 4, ... s (at most MAX_BACKOFF), up to MQTT_ALERT_MAX_RETRIES times (read at run time,
    so a changed setting applies to queued work); then log and give up."""
    attempt = task.request.retries
    if attempt >= int(settings.MQTT_ALERT_MAX_RETRIES):
        logger.error("%s given up after %d attempts: %s", what, attempt + 1, exc)
        return False
    logger.warning("%s failed (%s); retrying", what, exc)
    raise task.retry(exc=exc, countdown=min(2**attempt, MAX_BACKOFF), max_retries=None) from exc
