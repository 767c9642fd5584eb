"""Housekeeping tasks run by beat: retention (see mqtt_app.ingest.retention). Thin wrapper."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.housekeeping.apply_retention", ignore_result=True)
def apply_retention() -> dict:
    from mqtt_app.ingest.retention import apply_retention as run

    return run()
