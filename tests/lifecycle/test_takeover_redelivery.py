"""A listener killed after the queue took its batches and before their PUBACKs left: the site's broker sends
those messages again to the next listener, which recognises them as queued (their records) and queues them
no second time. The first listener here never writes a PUBACK, so the window is always open when it dies.
With RabbitMQ the records are written before each publish, and trusted once a worker stored their batch."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from mqtt_app.models import TelemetryReading
from mqtt_app.services.reconcile import run_reconcile
from tests.brokers_suite.conftest import amqp_app, amqp_worker  # noqa: F401 - fixtures of the RabbitMQ tests
from tests.helpers import ROOT, Process, wait_for
from tests.lifecycle.listeners import FAST_LISTENER_ENV, heartbeat, held_status, queued_messages

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = 60


def publish(broker, count: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="takeover-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for info in [client.publish("site/seq", str(seq), qos=1) for seq in range(count)]:
            info.wait_for_publish(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()


def run_without_acks(broker, connection, redis_client, env: dict, tmp_path, done: Callable[[], int]) -> int:
    """A first listener that queues and never acknowledges: the broker stops at its in-flight window. Killed once
    `done()` counts at least 10 of the published messages; returns that count."""
    first = Process(
        [sys.executable, "-m", "tests.lifecycle.listener_without_acks", "--id", "L1"], env, tmp_path / "first.log", ROOT
    )
    try:
        wait_for(lambda: heartbeat(redis_client, "L1"), timeout=30, what="the first listener's heartbeat")
        run_reconcile()
        wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=15, what="connected")
        publish(broker, COUNT)
        wait_for(lambda: done() >= 10, timeout=20, what="unacknowledged messages queued")
        reached = done()
    finally:
        first.kill()
    assert reached < COUNT, "the broker sent everything without PUBACKs: nothing would be redelivered"
    return reached


@pytest.mark.parametrize("fast_reader", ["true", "false"])
def test_what_a_killed_listener_queued_is_queued_once_when_the_broker_sends_it_again(
    broker, make_connection, listener_factory, redis_client, process_env, tmp_path, fast_reader
):
    connection = make_connection(broker, topics=[{"filter": "site/#", "qos": 1}])
    env = {**process_env, **FAST_LISTENER_ENV, "MQTT_FAST_READER": fast_reader, "MQTT_SPOOL_DIR": str(tmp_path)}
    run_without_acks(broker, connection, redis_client, env, tmp_path, lambda: len(queued_messages(redis_client)))

    listener_factory("L1", MQTT_FAST_READER=fast_reader)  # the same id and assignment: a supervisor's restart
    wait_for(lambda: len(queued_messages(redis_client)) >= COUNT, timeout=30, what="every message queued")
    time.sleep(1.0)  # a second copy would come with the redelivery, before the rest: it would be queued by now

    payloads = Counter(message.payload for _, message in queued_messages(redis_client))
    assert set(payloads) == {str(seq).encode() for seq in range(COUNT)}
    assert [p for p, n in payloads.items() if n > 1] == []


@pytest.mark.usefixtures("amqp_worker")
def test_what_a_killed_listener_queued_through_rabbitmq_is_stored_once(
    broker, make_connection, listener_factory, redis_client, process_env, amqp_broker_url, tmp_path
):
    connection = make_connection(broker, topics=[{"filter": "site/#", "qos": 1}])
    env = {**process_env, **FAST_LISTENER_ENV, "CELERY_BROKER_URL": amqp_broker_url, "MQTT_SPOOL_DIR": str(tmp_path)}
    run_without_acks(broker, connection, redis_client, env, tmp_path, TelemetryReading.objects.count)  # stored

    listener_factory("L1", CELERY_BROKER_URL=amqp_broker_url)
    wait_for(lambda: TelemetryReading.objects.count() >= COUNT, timeout=40, what="every message stored")
    time.sleep(1.0)  # a second copy would come with the redelivery, before the rest: it would be stored by now

    values = Counter(TelemetryReading.objects.values_list("value", flat=True))
    assert set(values) == {float(seq) for seq in range(COUNT)}
    assert [value for value, n in values.items() if n > 1] == []
