"""A real listener process against private Mosquitto brokers: connect, disconnect, reconnect."""

from __future__ import annotations

import subprocess

import pytest
from django.utils import timezone

from mqtt_app.models import ConnectionStatus, MqttConnection
from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import heartbeat, held_status

# Both read paths: the fast reader and stock paho-mqtt's (MQTT_FAST_READER, docs/listener.md).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("fast_reader", ["true", "false"]),
]


def connects_logged(broker, connection) -> int:
    """CONNECTs the broker accepted from this connection's client id."""
    return broker.process.output().count(f" as {connection.effective_client_id} ")


def test_reconcile_connects_active_connections_and_disconnects_inactive_ones(
    broker, make_connection, listener_factory, redis_client
):
    first = make_connection(broker)
    second = make_connection(broker, protocol="5")
    listener_factory("L1")
    run_reconcile()
    for connection in (first, second):
        wait_for(
            lambda c=connection: held_status(redis_client, "L1", c.pk) == "connected",
            timeout=10,
            what=f"connection {connection.pk} connected",
        )
    MqttConnection.objects.filter(pk=second.pk).update(is_active=False)
    run_reconcile()
    wait_for(
        lambda: str(second.pk) not in heartbeat(redis_client, "L1")["connections"],
        timeout=5,
        what="the inactive connection to be released",
    )
    assert held_status(redis_client, "L1", first.pk) == "connected"
    wait_for(
        lambda: f"Client {second.effective_client_id} disconnected" in broker.process.output(),
        timeout=5,
        what="a clean DISCONNECT at the broker",
    )


def test_a_killed_and_restarted_broker_goes_reconnecting_then_connected(
    broker, make_connection, listener_factory, redis_client
):
    connection = make_connection(broker)
    listener_factory("L1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=10, what="connected")
    broker.kill()
    wait_for(
        lambda: held_status(redis_client, "L1", connection.pk) == "reconnecting",
        timeout=10,
        what="reconnecting after the broker died",
    )
    broker.start()
    wait_for(
        lambda: held_status(redis_client, "L1", connection.pk) == "connected",
        timeout=15,
        what="connected again after the broker came back",
    )


def test_topic_changes_are_subscribed_without_reconnecting(broker, make_connection, listener_factory, redis_client):
    connection = make_connection(broker, topics=[{"filter": "a/#", "qos": 1}])
    listener_factory("L1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=10, what="connected")
    MqttConnection.objects.filter(pk=connection.pk).update(
        topics=[{"filter": "b/#", "qos": 1}], updated_at=timezone.now()
    )

    def message_on_b_arrives() -> bool:
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "b/x", "-m", "1", "-q", "1"], check=True)
        return redis_client.llen("ingest") > 0

    wait_for(message_on_b_arrives, timeout=10, interval=0.5, what="a message on the new topic to be batched")
    assert connects_logged(broker, connection) == 1


def test_a_wrong_password_is_an_error_with_the_reason_and_no_reconnect_storm(
    broker_factory, make_connection, listener_factory, redis_client, celery_worker_process, tmp_path
):
    broker = broker_factory(users={"meter": "right-secret"})
    wrong = make_connection(broker, username="meter", password="wrong-secret-x1")
    right = make_connection(broker, username="meter", password="right-secret")
    listener = listener_factory("L1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", right.pk) == "connected", timeout=10, what="right password")

    def wrong_is_error() -> bool:
        wrong.refresh_from_db()
        return wrong.status == ConnectionStatus.ERROR

    wait_for(wrong_is_error, timeout=20, what="the refused connection to be in error in the database")
    assert "Not authorized" in wrong.status_detail or "Bad user name or password" in wrong.status_detail
    # Several heartbeats later the broker has still refused exactly one attempt.
    first_beat = heartbeat(redis_client, "L1")["at"]
    wait_for(lambda: heartbeat(redis_client, "L1")["at"] > first_beat + 2, timeout=10, what="2 s of heartbeats")
    assert broker.process.output().count("disconnected, not authorised") == 1
    # Fixing the password in the database is picked up at the next heartbeat, without waiting 300 s.
    MqttConnection.objects.filter(pk=wrong.pk).update(password="right-secret", updated_at=timezone.now())
    wait_for(lambda: held_status(redis_client, "L1", wrong.pk) == "connected", timeout=10, what="fixed password")
    log_files = [path.read_text() for path in (tmp_path / "logs").glob("*.log")]
    assert any("event=error" in text for text in log_files)  # the connections log has the refusal...
    for text in (listener.output(), celery_worker_process.output(), wrong.events.first().detail, *log_files):
        assert "wrong-secret-x1" not in text and "right-secret" not in text  # ...and no password anywhere


def test_a_connection_that_goes_silent_is_flagged_and_clears_when_messages_resume(
    broker, make_connection, listener_factory, redis_client
):
    connection = make_connection(broker)
    listener_factory("L1", MQTT_SILENCE_TIMEOUT="1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=10, what="connected")

    def held() -> dict:
        return heartbeat(redis_client, "L1")["connections"][str(connection.pk)]

    subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "site/x", "-m", "1", "-q", "1"], check=True)
    wait_for(lambda: held()["silent"], timeout=10, what="the silence flag")
    assert held()["detail"].startswith("silent for") and held()["detail"].endswith("resubscribed")
    subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "site/x", "-m", "2", "-q", "1"], check=True)
    wait_for(lambda: not held()["silent"], timeout=10, what="the flag to clear")
    assert held()["detail"] == "messages resumed"
