"""Ingestion task: one listener batch per task (see mqtt_app.ingest). Thin wrapper.

acks_late + reject_on_worker_lost: a worker killed mid-batch leaves the message in Redis, it is redelivered,
and the batch's IngestBatch row (written in the same transaction) makes the redelivery store nothing twice.
A database outage is retried with backoff, never dropped.

No task events by default (settings.MQTT_INGEST_TASK_EVENTS): a worker started with `-E` (the Procfile's, for
Flower) would otherwise send three events per batch, received, started and succeeded, from its main process.
Measured in `mqtt_bench` at half load (about 37 batches a second): +3.3 µs of worker CPU a message, ~1.3 ms a
batch, plus what Flower spends receiving them. Flower still shows the ingest queue's depth (its Broker page),
the workers, and every other task; ingestion's own figures are in /metrics and its failures in the logs.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError


@shared_task(
    name="tasks.ingest.ingest_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=None,
    send_events=settings.MQTT_INGEST_TASK_EVENTS,
)
def ingest_batch(batch: dict) -> dict:
    from mqtt_app.ingest import ingest_batch as run

    return run(batch).as_dict()
