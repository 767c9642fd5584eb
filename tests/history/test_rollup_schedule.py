"""The roll-up is a beat task like retention: its schedule row is created with the others, and the task runs it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.models import SeriesRollup
from mqtt_app.services.schedule import ROLLUP_TASK_NAME, ensure_periodic_tasks
from tests.history.readings import add

pytestmark = pytest.mark.django_db


def test_the_rollup_schedule_row_runs_every_interval(settings):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=ROLLUP_TASK_NAME).delete()  # migrate made it with the default
    settings.MQTT_ROLLUP_INTERVAL = 45
    ensure_periodic_tasks()

    task = PeriodicTask.objects.get(name=ROLLUP_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == ("tasks.housekeeping.roll_up", 45, "seconds")


def test_the_task_rolls_up(topic):
    from tasks.housekeeping import roll_up

    add(topic, "temp", [(timezone.now() - timedelta(hours=1), 2.5)])

    assert roll_up.apply().get()["minutes"] == 1
    assert SeriesRollup.objects.get(topic=topic, width=60).max == 2.5
