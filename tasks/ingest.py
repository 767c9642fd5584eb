"""Ingestion task: one listener batch per task (see mqtt_app.ingest). Thin wrapper.

Never acknowledged unless stored: acks_late + reject_on_worker_lost redeliver a killed worker's batch (Redis:
once its lease lapses, tasks/leases.py; RabbitMQ: at once), acks_on_timeout=False puts a batch that hit the
hard time limit back in the queue, and transient errors are waited out (mqtt_app/ingest/attempts.py) then the
batch is handed back to the queue. A redelivery stores nothing twice (IngestBatch claims).

No task events by default (settings.MQTT_INGEST_TASK_EVENTS): see docs/ingest-design.md.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

import tasks.leases  # noqa: F401 - connects the lease keeper to the worker's start
from mqtt_app import outbox
from mqtt_app.ingest.attempts import StillFailing, dead_letter_batch, ingest_with_retries

logger = logging.getLogger(__name__)


@shared_task(  # type: ignore[call-overload] # celery-types lacks acks_on_timeout (Celery 5.5)
    bind=True,
    name="tasks.ingest.ingest_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    acks_on_timeout=False,
    ignore_result=True,
    max_retries=None,
    soft_time_limit=settings.MQTT_INGEST_RETRY_WINDOW + 120,
    time_limit=settings.MQTT_INGEST_RETRY_WINDOW + 180,
    send_events=settings.MQTT_INGEST_TASK_EVENTS,
)
def ingest_batch(self, batch: dict) -> dict:  # noqa: ANN001 - Celery's bound task
    try:
        result = ingest_with_retries(batch).as_dict()
        _receipt(batch)
        return result
    except StillFailing as failing:
        if self.request.retries >= settings.MQTT_INGEST_MAX_RETRIES:
            try:
                result = {"status": "dead_letters", "messages": dead_letter_batch(batch, failing.error)}
                _receipt(batch)
                return result
            except Exception as exc:  # noqa: BLE001 - the database is still away: keep the batch in the queue
                logger.warning("batch could not be kept as dead letters (%s): back to the queue", exc)
        # Back to the queue at once (no ETA: a countdown would sit unleased in the worker's memory).
        raise self.retry(exc=failing.error, countdown=0) from failing.error


def _receipt(batch: object) -> None:
    """Stored: the listener's copy of the batch can go (mqtt_app/outbox.py)."""
    if outbox.enabled() and isinstance(batch, dict) and "id" in batch:
        outbox.done(str(batch["id"]))
