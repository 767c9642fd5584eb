"""Rows that an ingestion transaction commits after a newer one (lower id, older receive time) are rolled up."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from mqtt_app.history.rollup import roll_up
from mqtt_app.models import MqttConnection, MqttTopic, SeriesRollup, Site, TelemetryReading
from mqtt_app.models.rollups import MINUTE
from tests.history.readings import add, minute

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite commits one writer at a time, in id order"),
]


def other_session() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname=db["NAME"])  # fmt: skip


def test_a_reading_committed_after_a_newer_one_is_rolled_up_by_the_next_run():
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=conn, topic="t", first_seen_at=now, last_seen_at=now)
    bucket = minute(now) - timedelta(minutes=5)
    roll_up()  # the state exists: the next runs are incremental

    # A worker whose transaction has the lower id and the older receive time, and commits last (ids are cached
    # per session, so their order across workers is any order: the id is given here to make it the worst one).
    slow = other_session()
    table = TelemetryReading._meta.db_table
    slow.execute(
        f"INSERT INTO {table} (id, connection_id, topic_id, device, metric, value_type, value, text_value, unit, "  # noqa: S608
        "timestamp, received_at) VALUES (1, %s, %s, '', 'temp', 'number', 7.0, '', '', %s, %s)",
        (conn.pk, topic.pk, bucket + timedelta(seconds=1), now - timedelta(seconds=30)),
    )
    add(topic, "temp", [(bucket + timedelta(seconds=2), 1.0)], received=now)  # committed at once
    roll_up()
    assert SeriesRollup.objects.get(topic=topic, width=MINUTE, start=bucket).count == 1

    slow.commit()
    slow.close()
    late = TelemetryReading.objects.get(value=7.0)
    assert late.id < TelemetryReading.objects.get(value=1.0).id and late.received_at < now
    roll_up()

    rolled = SeriesRollup.objects.get(topic=topic, width=MINUTE, start=bucket)
    assert (rolled.min, rolled.max, rolled.sum, rolled.count) == (1.0, 7.0, 8.0, 2)


def test_a_run_while_another_holds_the_state_returns_at_once_and_the_next_catches_up():
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=conn, topic="t", first_seen_at=now, last_seen_at=now)
    roll_up()
    add(topic, "temp", [(minute(now) - timedelta(minutes=2), 4.0)], received=now)

    running = other_session()  # a run in progress: it holds the state row
    running.execute("SELECT id FROM mqtt_rollupstate WHERE id = 1 FOR UPDATE")
    assert roll_up()["skipped"] == 1
    assert not SeriesRollup.objects.exists()
    running.rollback()
    running.close()

    assert roll_up()["skipped"] == 0
    assert SeriesRollup.objects.get(topic=topic, width=MINUTE).sum == 4.0
