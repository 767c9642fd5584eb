"""Migrations match the models and reverse cleanly (the seed's rollback plan: `migrate mqtt zero`)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db
def test_every_model_change_has_a_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models changed without a migration:\n{out.getvalue()} (exit {exit_.code})")


@pytest.mark.django_db(transaction=True)
def test_the_mqtt_migrations_reverse_to_zero_and_apply_again():
    call_command("migrate", "mqtt", "zero", verbosity=0)
    tables = connection.introspection.table_names()
    assert not [t for t in tables if t.startswith("mqtt_")]
    call_command("migrate", "mqtt", verbosity=0)
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    assert "mqtt_mqttconnection" in connection.introspection.table_names()


@pytest.mark.django_db
def test_migrate_creates_the_reconcile_schedule_visible_in_the_admin():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="tasks.reconcile.reconcile")
    assert task.enabled and task.interval.every == 30 and task.interval.period == "seconds"
    assert task.queue == "control"
