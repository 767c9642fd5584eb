"""A listener SIGKILLed while QoS 1 messages flow: once it is back, nothing is missing (at least once)."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from mqtt_app.models import TelemetryReading
from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import held_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = 3000


def publish_steadily(broker, count: int, rate: float, done: threading.Event) -> None:
    """QoS 1 publishes at a steady rate from a real paho client; each waits for its PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="steady-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        start = time.monotonic()
        infos = []
        for seq in range(count):
            infos.append(client.publish("site/line/seq", str(seq), qos=1))
            delay = start + (seq + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the publisher, not synchronising the test
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.loop_stop()
        client.disconnect()
        done.set()


def test_a_listener_killed_mid_stream_loses_no_qos1_message(
    broker, make_connection, listener_factory, redis_client, celery_worker_process
):
    connection = make_connection(broker, topics=[{"filter": "site/#", "qos": 1}])
    first = listener_factory("L1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=15, what="connected")

    done = threading.Event()
    publisher = threading.Thread(target=publish_steadily, args=(broker, COUNT, 1000.0, done), daemon=True)
    publisher.start()
    wait_for(lambda: TelemetryReading.objects.count() > COUNT // 4, timeout=30, what="a quarter stored")
    assert not done.is_set(), "the publisher finished before the kill: raise COUNT"
    first.kill()  # SIGKILL mid-stream: unacked messages stay with the broker's persistent session
    listener_factory("L1")  # same listener id, same assignment, same client id
    wait_for(done.is_set, timeout=60, what="the publisher to finish")

    wait_for(
        lambda: TelemetryReading.objects.filter(metric="seq").values("value").distinct().count() == COUNT,
        timeout=60,
        what="every published sequence number stored",
    )
    values = list(TelemetryReading.objects.filter(metric="seq").values_list("value", flat=True))
    assert set(values) == {float(seq) for seq in range(COUNT)}
    # At least once: what the dead process had queued is recognised by its records, but PUBACKs it wrote just
    # before the kill that the broker had not read are lost with the connection (docs/delivery.md).
    assert len(values) - COUNT <= 1000
