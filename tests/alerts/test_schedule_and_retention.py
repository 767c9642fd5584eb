"""The beat schedule evaluates alerts every MQTT_ALERT_INTERVAL seconds; retention keeps open alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.alerts.models import Alert
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.services.schedule import ALERTS_TASK_NAME, ensure_periodic_tasks

pytestmark = pytest.mark.django_db


def test_the_beat_schedule_evaluates_alerts_every_fifteen_seconds():
    from django_celery_beat.models import PeriodicTask

    ensure_periodic_tasks()
    task = PeriodicTask.objects.get(name=ALERTS_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == ("tasks.alerts.evaluate", 15, "seconds")


def test_retention_deletes_old_resolved_alerts_and_never_an_open_one(make_rule, settings):
    settings.MQTT_LOG_RETENTION_DAYS = 7
    rule = make_rule("connection_down")
    old = timezone.now() - timedelta(days=30)
    common = {"rule": rule, "site_id": rule.site_id, "since": old, "fired_at": old}
    Alert.objects.create(subject_key="a", subject="old, resolved", state="resolved", resolved_at=old, **common)
    Alert.objects.create(subject_key="b", subject="recent", state="resolved", resolved_at=timezone.now(), **common)
    Alert.objects.create(subject_key="c", subject="old, open", **common)
    assert apply_retention()["Alert"] == 1
    assert sorted(Alert.objects.values_list("subject_key", flat=True)) == ["b", "c"]
