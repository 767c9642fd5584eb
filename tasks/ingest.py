"""Ingestion task: one listener batch per task (see mqtt_app.ingest). Thin wrapper.

acks_late + reject_on_worker_lost: a worker killed mid-batch leaves the message in Redis, it is redelivered,
and the batch's IngestBatch row (written in the same transaction) makes the redelivery store nothing twice.
A database outage is retried with backoff, never dropped.
"""

from __future__ import annotations

from celery import shared_task
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
)
def ingest_batch(batch: dict) -> dict:
    from mqtt_app.ingest import ingest_batch as run

    return run(batch).as_dict()
