"""Migrations match the models and reverse cleanly (the rollback plan: `migrate mqtt zero`)."""

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


@pytest.mark.django_db(transaction=True)
def test_the_connection_result_counters_start_where_metrics_left_them():
    import uuid

    from django.utils import timezone

    executor = MigrationExecutor(connection)
    executor.migrate([("mqtt", "0005_reading_topic_time_index")])
    old = executor.loader.project_state([("mqtt", "0005_reading_topic_time_index")]).apps
    site = old.get_model("mqtt", "Site").objects.create(name="s")
    conn = old.get_model("mqtt", "MqttConnection").objects.create(site=site, name="c", host="h")
    batches = old.get_model("mqtt", "IngestBatch").objects
    for messages, readings, errors in ((10, 16, 2), (5, 5, 0)):
        batches.create(
            id=uuid.uuid4(),
            connection_id=conn.pk,
            message_count=messages,
            reading_count=readings,
            error_count=errors,
            processed_at=timezone.now(),
        )

    now = timezone.now()
    topics = old.get_model("mqtt", "MqttTopic").objects
    for name, errors in (("a", 3), ("b", 4)):  # what /metrics reported as failed: the topics' error counts
        topics.create(connection_id=conn.pk, topic=name, error_count=errors, first_seen_at=now, last_seen_at=now)

    call_command("migrate", "mqtt", verbosity=0)

    from mqtt_app.models import MqttConnection

    migrated = MqttConnection.objects.get(pk=conn.pk)
    assert (migrated.messages_stored, migrated.messages_failed, migrated.readings_stored) == (13, 7, 21)
