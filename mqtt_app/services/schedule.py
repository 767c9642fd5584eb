"""The beat schedule rows, created idempotently (after every `migrate`, and by `mqtt_setup`)."""

from __future__ import annotations

import json

from django.conf import settings

RECONCILE_TASK_NAME = "mqtt: reconcile connections"
RETENTION_TASK_NAME = "mqtt: retention"
ALERTS_TASK_NAME = "mqtt: evaluate alerts"
ROLLUP_TASK_NAME = "mqtt: rollups"


def _schedules() -> list[tuple[str, str, int, str, bool, str]]:
    """(name, task, every seconds, queue, expires after one period, description), read at call time. A tick that
    expires after one period: once it is that late, the next one is already coming."""
    return [
        (RECONCILE_TASK_NAME, "tasks.reconcile.reconcile", settings.MQTT_RECONCILE_INTERVAL, "control", True,
         "Converge listeners to MqttConnection.is_active (auto-start and auto-healing)."),
        (RETENTION_TASK_NAME, "tasks.housekeeping.apply_retention", 3600, "default", False,
         "Delete readings and log rows older than the retention settings, in chunks."),
        (ALERTS_TASK_NAME, "tasks.alerts.evaluate", settings.MQTT_ALERT_INTERVAL, "default", True,
         "Evaluate the alert rules: open, resolve and remind alerts, and notify."),
        # Roll-ups queued behind a slow one add nothing: the next run reads everything they would have.
        (ROLLUP_TASK_NAME, "tasks.housekeeping.roll_up", settings.MQTT_ROLLUP_INTERVAL, "default", True,
         "Per-minute and per-hour rollups of new numeric readings, for long-range charts."),
    ]  # fmt: skip


def ensure_periodic_tasks() -> None:
    """Create the periodic tasks if missing. Existing rows are left alone: an operator may have edited them."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for name, task, seconds, queue, expires, description in _schedules():
        if seconds % 3600 == 0:
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds // 3600, period=IntervalSchedule.HOURS)
        else:
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        defaults = {"task": task, "interval": interval, "queue": queue, "kwargs": json.dumps({}),
                    "description": description} | ({"expire_seconds": seconds} if expires else {})  # fmt: skip
        PeriodicTask.objects.get_or_create(name=name, defaults=defaults)
