"""Housekeeping tasks run by beat: retention (mqtt_app.ingest.retention) and rollups (mqtt_app.history.rollup)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.housekeeping.apply_retention", ignore_result=True)
def apply_retention() -> dict:
    from mqtt_app.ingest.retention import apply_retention as run

    return run()


@shared_task(name="tasks.housekeeping.roll_up", ignore_result=True)
def roll_up() -> dict:
    from mqtt_app.history.rollup import roll_up as run

    return run()
