"""A listener killed after the queue took its batches and before their PUBACKs left: the site's broker sends
those messages again to the next listener, which recognises them as queued (their records) and queues them
no second time. The first listener here never writes a PUBACK, so the window is always open when it dies.
With RabbitMQ the records are written before each publish, and trusted once a worker stored their batch."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from mqtt_app.models import TelemetryReading
from mqtt_app.services.reconcile import run_reconcile
from tests.brokers import MosquittoBroker
from tests.brokers_suite.conftest import amqp_app, amqp_worker  # noqa: F401 - fixtures of the RabbitMQ tests
from tests.helpers import ROOT, Process, wait_for
from tests.lifecycle.listeners import FAST_LISTENER_ENV, heartbeat, held_status, pending_messages, queued_messages

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = 60
BIG = 80_000


def publish(broker, count: int, inflight: int = 20) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="takeover-publisher")
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for start in range(0, count, 20_000):  # fewer than 65,535 waiting: paho's packet ids must not wrap
            seqs = range(start, min(count, start + 20_000))
            for info in [client.publish("site/seq", str(seq), qos=1) for seq in seqs]:
                info.wait_for_publish(timeout=60)
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


def test_pubacks_the_broker_had_not_read_when_the_listener_was_killed_store_nothing_twice(
    make_connection, listener_factory, redis_client, process_env, tmp_path
):
    # Past 65,535 messages the connection's packet ids are known to run in sequence, so each batch's record stays
    # until the broker's PINGRESP. The first listener dies right after writing a batch's PUBACKs, which the broker
    # (stopped meanwhile) has not read: it may drop them with the reset connection and send those messages again.
    # (With the records released before the PUBACKs, HOLD_RECORDS=false, some of them are then queued twice.)
    broker = MosquittoBroker(tmp_path / "broker", max_queued=0)  # the publisher may run ahead of the listener
    broker.start()
    try:
        connection = make_connection(broker, topics=[{"filter": "site/#", "qos": 1}])
        marker = tmp_path / "killed"
        env = {
            **process_env,
            **FAST_LISTENER_ENV,
            "MQTT_SPOOL_DIR": str(tmp_path),
            "KILL_AFTER_ACKS": "66000",
            "KILL_MARKER": str(marker),
            "BROKER_PID": str(broker.process.pid),
        }
        first = Process(
            [sys.executable, "-m", "tests.lifecycle.listener_killed_after_acks", "--id", "L1"],
            env,
            tmp_path / "first.log",
            ROOT,
        )
        publisher = threading.Thread(target=publish, args=(broker, BIG, 2000))
        try:
            wait_for(lambda: heartbeat(redis_client, "L1"), timeout=30, what="the first listener's heartbeat")
            run_reconcile()
            wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=15, what="up")
            publisher.start()
            wait_for(lambda: marker.exists() and not first.alive(), timeout=60, what="the first listener killed")
        finally:
            first.kill()
            broker.process.signal(signal.SIGCONT)
        publisher.join(timeout=60)
        assert int(marker.read_text().split()[1]) > 0  # records were kept past their PUBACKs when it died

        listener_factory("L1")  # the same id and assignment: a supervisor's restart
        # (the first listener may have died between a batch's outbox copy and its queueing: the copy counts)
        distinct = lambda: len({message.payload for _, message in pending_messages(redis_client)})  # noqa: E731
        wait_for(lambda: distinct() >= BIG, timeout=60, what="every message queued")
        time.sleep(1.0)  # a second copy would come with the redelivery, before the rest: it would be queued by now

        payloads = Counter(message.payload for _, message in pending_messages(redis_client))
        assert len(payloads) == BIG
        assert [p for p, n in payloads.items() if n > 1] == []
    finally:
        broker.stop()
