"""Readings partitioned by arrival day on PostgreSQL: partitions made ahead, rows never refused, retention by
dropping whole partitions, and the conversion of a table that already holds readings (migration 0012)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from mqtt_app.ingest import partitions
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import MqttTopic, TelemetryReading

pytestmark = pytest.mark.skipif(
    db.vendor != "postgresql", reason="partitions are PostgreSQL's; SQLite keeps a plain table"
)
DAY = timedelta(days=1)


def add_readings(connection, at, count: int, metric: str = "m") -> list[int]:  # noqa: ANN001
    # The topic's id only: at an older migration state the topic table lacks columns the model has now.
    topic_id = MqttTopic.objects.filter(connection=connection, topic="plant/t").values_list("pk", flat=True).first()
    if topic_id is None:
        topic_id = MqttTopic.objects.create(
            connection=connection, topic="plant/t", first_seen_at=at, last_seen_at=at
        ).pk
    rows = TelemetryReading.objects.bulk_create(
        TelemetryReading(connection=connection, topic_id=topic_id, metric=metric, value=i, timestamp=at, received_at=at)
        for i in range(count)
    )
    return [row.pk for row in rows]


def where(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {partitions.table()} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_table_is_partitioned_with_today_the_days_ahead_and_a_default(settings):
    now = timezone.now()
    names = {p.name for p in partitions.partitions()}
    today = partitions.boundary_at_or_before(now)
    ahead = [partitions.name_for(today + DAY * n) for n in range(settings.MQTT_READING_PARTITIONS_AHEAD + 1)]
    assert set(ahead) | {partitions.default_partition()} <= names
    assert partitions.ensure(now) == []  # idempotent


@pytest.mark.django_db
def test_a_row_no_partition_covers_is_kept_and_moved_when_its_partition_is_made(connection):
    far = timezone.now() + 40 * DAY
    [pk] = add_readings(connection, far, 1)
    assert where(pk) == partitions.default_partition()

    created = partitions.ensure(far)

    assert partitions.name_for(partitions.boundary_at_or_before(far)) in created
    assert where(pk) == partitions.name_for(partitions.boundary_at_or_before(far))
    assert TelemetryReading.objects.filter(pk=pk).count() == 1


@pytest.mark.django_db
def test_retention_drops_expired_partitions_whole_and_keeps_the_rest(connection, settings):
    settings.MQTT_READING_RETENTION_DAYS = 30
    old = partitions.boundary_at_or_before(timezone.now() - 45 * DAY)
    partitions.create(old, old + DAY)
    expired = add_readings(connection, old + timedelta(hours=3), 5)
    kept = add_readings(connection, timezone.now() - timedelta(hours=1), 2)

    apply_retention(chunk_size=2)

    assert partitions.name_for(old) not in {p.name for p in partitions.partitions()}
    assert not TelemetryReading.objects.filter(pk__in=expired).exists()
    assert TelemetryReading.objects.filter(pk__in=kept).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_table_with_readings_becomes_the_first_partition_and_ids_go_on(connection):
    executor = MigrationExecutor(db)
    leaves = executor.loader.graph.leaf_nodes()
    add_readings(connection, timezone.now(), 0)  # the topic, created while its table has every column
    try:
        executor.migrate([("mqtt", "0011_site_roles_audit")])
        assert not partitions.is_partitioned()
        before = add_readings(connection, timezone.now() - 3 * DAY, 4)

        executor = MigrationExecutor(db)
        executor.migrate([("mqtt", "0012_reading_partitions")])

        assert partitions.is_partitioned()
        assert {where(pk) for pk in before} == {f"{partitions.table()}_legacy"}
        after = add_readings(connection, timezone.now(), 1, metric="new")
        assert after[0] > max(before)
        assert TelemetryReading.objects.filter(topic__connection=connection).count() == 5
    finally:
        executor = MigrationExecutor(db)
        executor.loader.build_graph()
        executor.migrate(leaves)
        partitions.ensure(timezone.now())
