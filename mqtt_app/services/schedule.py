"""The beat schedule rows, created idempotently (after every `migrate`, and by `mqtt_setup`)."""

from __future__ import annotations

import json

from django.conf import settings

RECONCILE_TASK_NAME = "mqtt: reconcile connections"
RETENTION_TASK_NAME = "mqtt: retention"
ALERTS_TASK_NAME = "mqtt: evaluate alerts"
ROLLUP_TASK_NAME = "mqtt: rollups"


def ensure_periodic_tasks() -> None:
    """Create the periodic tasks if missing. Existing rows are left alone: an operator may have edited them."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_reconcile, _ = IntervalSchedule.objects.get_or_create(
        every=settings.MQTT_RECONCILE_INTERVAL, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name=RECONCILE_TASK_NAME,
        defaults={
            "task": "tasks.reconcile.reconcile",
            "interval": every_reconcile,
            "queue": "control",
            "kwargs": json.dumps({}),
            # A tick older than one interval is useless: the next one is already coming.
            "expire_seconds": settings.MQTT_RECONCILE_INTERVAL,
            "description": "Converge listeners to MqttConnection.is_active (auto-start and auto-healing).",
        },
    )
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.get_or_create(
        name=RETENTION_TASK_NAME,
        defaults={
            "task": "tasks.housekeeping.apply_retention",
            "interval": hourly,
            "queue": "default",
            "description": "Delete readings and log rows older than the retention settings, in chunks.",
        },
    )
    every_alerts, _ = IntervalSchedule.objects.get_or_create(
        every=settings.MQTT_ALERT_INTERVAL, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name=ALERTS_TASK_NAME,
        defaults={
            "task": "tasks.alerts.evaluate",
            "interval": every_alerts,
            "queue": "default",
            "expire_seconds": settings.MQTT_ALERT_INTERVAL,  # the next tick is already coming
            "description": "Evaluate the alert rules: open, resolve and remind alerts, and notify.",
        },
    )
    every_rollup, _ = IntervalSchedule.objects.get_or_create(
        every=settings.MQTT_ROLLUP_INTERVAL, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name=ROLLUP_TASK_NAME,
        defaults={
            "task": "tasks.housekeeping.roll_up",
            "interval": every_rollup,
            "queue": "default",
            # Runs queued behind a slow one add nothing: the next run reads everything they would have.
            "expire_seconds": settings.MQTT_ROLLUP_INTERVAL,
            "description": "Per-minute and per-hour rollups of new numeric readings, for long-range charts.",
        },
    )
