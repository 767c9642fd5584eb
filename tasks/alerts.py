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
    """Send one message; a failure worth retrying is retried after 1, 2, 4, ... s (at most MAX_BACKOFF), up to
    MQTT_ALERT_MAX_RETRIES times (read at run time, so a changed setting applies to queued messages). `sealed`:
    the channel itself, encrypted, when its row is deleted before the message goes (a deleted rule)."""
    from mqtt_app.alerts.channels import DeliveryError, send

    try:
        return send(channel_id, message, sealed)
    except DeliveryError as exc:
        attempt = self.request.retries
        if attempt >= int(settings.MQTT_ALERT_MAX_RETRIES):
            logger.error("notification of channel %s given up after %d attempts: %s", channel_id, attempt + 1, exc)
            return False
        logger.warning("notification of channel %s failed (%s); retrying", channel_id, exc)
        raise self.retry(exc=exc, countdown=min(2**attempt, MAX_BACKOFF), max_retries=None) from exc
