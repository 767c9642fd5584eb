"""A listener whose buffer is full stops reading its sockets instead of dropping QoS 1 messages: with a broker
that sends without an in-flight limit and a queue that takes batches slowly, every message is queued once, and
the listener never reconnects to have the broker send again what it dropped."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import decode_queued, held_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COUNT = 3000


def publish_all(broker, count: int, done: threading.Event) -> None:  # noqa: ANN001
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood-publisher")
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish("site/line/seq", str(seq), qos=1) for seq in range(count)]
        for info in infos:
            info.wait_for_publish(timeout=60)
    finally:
        client.loop_stop()
        client.disconnect()
        done.set()


def take_batches(redis_client) -> list[dict]:  # noqa: ANN001
    """Pop what waits on the ingest queue, as a slow worker would, decoded as the worker decodes it."""
    return [decode_queued(raw) for raw in redis_client.lpop("ingest", 2) or []]


def test_a_full_buffer_pauses_reading_and_every_message_is_queued_once(
    broker_factory, make_connection, listener_factory, redis_client
):
    broker = broker_factory(extra_config="max_inflight_messages 0\nmax_queued_messages 0\n")
    connection = make_connection(broker, topics=[{"filter": "site/#", "qos": 1}])
    listener = listener_factory(
        "L1", MQTT_LISTENER_MAX_BUFFER="50", MQTT_BATCH_SIZE="20", MQTT_INGEST_MAX_BACKLOG="10",
        MQTT_SPOOL_MAX_BYTES="0", MQTT_ACK_WINDOW="1000",
    )  # fmt: skip
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=15, what="connected")

    done = threading.Event()
    threading.Thread(target=publish_all, args=(broker, COUNT, done), daemon=True).start()
    by_batch: dict[str, list[int]] = {}  # a batch sent twice has one id: the worker stores it once
    deadline = time.monotonic() + 120
    while len({seq for seqs in by_batch.values() for seq in seqs}) < COUNT and time.monotonic() < deadline:
        for batch in take_batches(redis_client):
            by_batch[batch["id"]] = [int(p) for part in batch["parts"] for p in part["payloads"]]
        time.sleep(0.05)  # a slow worker: the listener meets its backlog bound and a full buffer

    queued = [seq for seqs in by_batch.values() for seq in seqs]
    assert sorted(queued) == list(range(COUNT)), f"{len(set(queued))} of {COUNT} queued, {len(queued)} in all"
    assert "reconnect" not in listener.output().lower()
