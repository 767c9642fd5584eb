"""run_reconcile against the real Redis and database: assignments, statuses, the lock, the summary."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connections

from mqtt_app import coordination
from mqtt_app.models import ConnectionEvent, ConnectionStatus, MqttConnection, MqttConnectionLog
from mqtt_app.services.reconcile import run_reconcile


def beat(redis_client, *listener_ids: str, capacity: int = 100) -> None:
    for lid in listener_ids:
        coordination.write_heartbeat(redis_client, lid, {"capacity": capacity, "connections": {}})


@pytest.mark.django_db
def test_reconcile_assigns_active_connections_and_records_starting(redis_client, make_connection, caplog):
    beat(redis_client, "L1")
    connection = make_connection()
    with caplog.at_level(logging.INFO, logger="mqtt.connections"):
        summary = run_reconcile()
    assert coordination.read_assignments(redis_client) == {connection.pk: "L1"}
    connection.refresh_from_db()
    assert (connection.status, connection.listener) == (ConnectionStatus.STARTING, "L1")
    assert MqttConnectionLog.objects.get(connection=connection).event == ConnectionEvent.STARTED
    assert f"connection={connection.pk} event=started status=starting listener=L1" in caplog.text
    assert summary["assigned"] == 1
    assert coordination.last_reconcile(redis_client)["assigned"] == 1
    # /api/health reads the bare epoch of the last run
    assert abs(float(redis_client.get(coordination.last_reconcile_key())) - time.time()) < 60


@pytest.mark.django_db
def test_reconcile_unassigns_inactive_connections_and_notifies_their_listener(redis_client, make_connection):
    beat(redis_client, "L1")
    connection = make_connection()
    run_reconcile()
    MqttConnection.objects.filter(pk=connection.pk).update(is_active=False)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(coordination.changed_channel())
    pubsub.get_message(timeout=1)
    run_reconcile()
    assert coordination.read_assignments(redis_client) == {}
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.STOPPING
    message = pubsub.get_message(timeout=2)
    assert message is not None and message["data"] == b"L1"
    pubsub.close()


@pytest.mark.django_db
def test_connections_of_an_expired_listener_move_to_a_live_one(redis_client, make_connection):
    beat(redis_client, "L1")
    first, second = make_connection(), make_connection()
    run_reconcile()
    coordination.remove_heartbeat(redis_client, "L1")  # what the TTL does to a SIGKILLed listener
    beat(redis_client, "L2")
    summary = run_reconcile()
    assert coordination.read_assignments(redis_client) == {first.pk: "L2", second.pk: "L2"}
    assert summary["moved"] == 2
    assert MqttConnectionLog.objects.filter(event=ConnectionEvent.REASSIGNED).count() == 2


@pytest.mark.django_db
def test_a_second_reconcile_with_nothing_to_do_changes_nothing(redis_client, make_connection):
    beat(redis_client, "L1", "L2")
    for _ in range(6):
        make_connection()
    run_reconcile()
    before = coordination.read_assignments(redis_client)
    summary = run_reconcile()
    assert coordination.read_assignments(redis_client) == before
    assert summary["status_changes"] == 0 and summary["assigned"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_reconcile_runs_never_double_assign(redis_client, make_connection):
    beat(redis_client, "L1", "L2", "L3")
    created = [make_connection().pk for _ in range(30)]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_reconcile()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assignments = coordination.read_assignments(redis_client)
    assert sorted(assignments) == sorted(created)
    # Each connection was started exactly once: no run assigned what another had just assigned.
    for pk in created:
        assert MqttConnectionLog.objects.filter(connection_id=pk, event=ConnectionEvent.STARTED).count() == 1
    assert sorted(list(assignments.values()).count(lid) for lid in ("L1", "L2", "L3")) == [10, 10, 10]


@pytest.mark.django_db
def test_inactive_unheld_connection_left_in_a_running_state_is_marked_stopped(make_connection):
    connection = make_connection(is_active=False, status=ConnectionStatus.CONNECTED)
    run_reconcile()
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.STOPPED
