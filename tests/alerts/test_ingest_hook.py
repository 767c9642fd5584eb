"""The ingest hook: a stored batch that may change a value rule of its connection asks for that rule's evaluation
at once; with no value rule, or readings no rule cares about, it costs no query and no task per batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mqtt_app.alerts import hook
from mqtt_app.alerts.models import Alert
from mqtt_app.alerts.service import evaluate_values
from mqtt_app.ingest.live import LiveUpdate
from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttConnection, MqttTopic
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_watch() -> Iterator[None]:
    hook.watch.reset()
    yield
    hook.watch.reset()


def _queued() -> int:
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    try:
        return int(client.llen("default"))
    finally:
        client.close()


def readings(connection_id: int, *values: tuple[str, float]) -> LiveUpdate:
    """A stored batch's live update holding these (metric, value) readings, as ingestion builds it."""
    now = timezone.now()
    rows = [(connection_id, 1, "", metric, "number", value, "", "", now, now) for metric, value in values]
    return LiveUpdate(connection_id=connection_id, rows=rows)


def test_with_no_value_rule_a_batch_costs_no_query_and_no_task(connection, make_rule):
    make_rule("connection_down")  # not a value rule
    hook.after_batch([readings(connection.pk)])  # the first call reads which connections are watched
    with CaptureQueriesContext(db_connection) as queries:
        for _ in range(1000):
            hook.after_batch([readings(connection.pk, ("temp", 99.0))])
    assert len(queries) == 0
    assert _queued() == 0


def test_only_a_value_past_a_threshold_or_of_an_open_alerts_metric_asks_for_an_evaluation(connection, make_rule):
    rule = make_rule("threshold", metric="temp", op="gt", value=30, for_seconds=0)
    assert hook.watch.wanted([readings(connection.pk, ("temp", 21.0), ("humidity", 99.0))], 1.0) == []
    with CaptureQueriesContext(db_connection) as queries:  # the rules were read by the first call, once
        assert hook.watch.wanted([readings(connection.pk, ("temp", 31.0))], 1.5) == [connection.pk]
    assert len(queries) == 0
    now = timezone.now()
    Alert.objects.create(rule=rule, site=connection.site, connection=connection, subject_key="topic:1",
                         subject="temp", since=now, fired_at=now)  # fmt: skip
    hook.watch.reset()
    assert hook.watch.wanted([readings(connection.pk, ("temp", 21.0))], 2.0) == [connection.pk]  # it may clear


def test_a_stored_batch_fires_its_threshold_rule_without_waiting_for_the_tick(connection, make_rule, eager_tasks):
    now = timezone.now()
    MqttTopic.objects.create(connection=connection, topic="store/freezer/temp", is_processable=True,
                             parser_name="plain_number", parser_locked=True, first_seen_at=now,
                             last_seen_at=now)  # fmt: skip
    make_rule("threshold", metric="temp", op="gt", value=-10, for_seconds=0)
    ingest_batch(make_batch(connection.pk, [("store/freezer/temp", b"-20")]))
    assert not Alert.objects.exists()
    ingest_batch(make_batch(connection.pk, [("store/freezer/temp", b"-2")]))
    (alert,) = Alert.objects.all()
    assert (alert.state, alert.value) == ("firing", -2)


def test_batches_within_a_second_ask_for_one_evaluation_now_and_one_at_the_seconds_end(connection, make_rule):
    make_rule("device_offline", connection=connection)
    assert hook.watch.due([connection.pk], 100.0) == {0.0: [connection.pk]}
    assert hook.watch.due([connection.pk], 100.2) == {0.8: [connection.pk]}
    assert hook.watch.due([connection.pk], 100.5) == {}  # the one at 101.0 will see this batch too
    assert hook.watch.due([connection.pk], 101.3) == {0.7: [connection.pk]}  # after it: the next, at 102.0
    assert hook.watch.due([connection.pk], 103.5) == {0.0: [connection.pk]}


def test_a_value_evaluation_of_one_connection_leaves_the_others_alerts_alone(site, connection, make_rule):
    other = MqttConnection.objects.create(site=site, name="other", host="127.0.0.1")
    rule = make_rule("device_offline", for_seconds=0)
    now = timezone.now() - timedelta(seconds=5)
    for conn in (connection, other):
        MqttTopic.objects.create(connection=conn, topic="tele/plug/LWT", last_payload=b"Offline", first_seen_at=now,
                                 last_seen_at=now)  # fmt: skip
    assert evaluate_values([connection.pk, other.pk]).fired == 2
    MqttTopic.objects.filter(connection=connection).update(last_payload=b"Online")
    MqttTopic.objects.filter(connection=other).update(last_payload=b"Online")
    assert evaluate_values([connection.pk]).resolved == 1
    assert list(Alert.objects.filter(rule=rule, resolved_at__isnull=True).values_list("connection_id", flat=True)) == [
        other.pk
    ]
