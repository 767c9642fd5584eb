"""RabbitMQ as the Celery broker: a batch sent the listener's way is stored by a real worker, the queues are
quorum queues, and their depth is readable (the listener's batch sizing and /metrics)."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass

import pytest

from mqtt_app.listener.batcher import Batcher
from mqtt_app.models import IngestBatch, MqttConnection, Site, TelemetryReading
from mqtt_app.observability import metrics
from project.broker import DELIVERY_LIMIT, QUEUES
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Message:
    mid: int
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def list_queues(url: str, *columns: str) -> list[list[str]]:
    """`rabbitmqctl list_queues` on the URL's vhost: one list of column values per queue."""
    vhost = url.rsplit("/", 1)[1]
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, *columns, "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [line.split("\t") for line in out.splitlines()]


def queue_types(url: str) -> dict[str, str]:
    return {name: f"{kind} {durable}" for name, kind, durable in list_queues(url, "name", "type", "durable")}


def queue_arguments(url: str, names: tuple[str, ...]) -> list[str]:
    return [arguments for name, arguments in list_queues(url, "name", "arguments") if name in names]


def test_a_batch_sent_the_listeners_way_through_rabbitmq_is_stored_by_a_real_worker(amqp_app, amqp_worker, caplog):
    site = Site.objects.create(name="Plant")
    connection = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    acked = threading.Event()
    batcher = Batcher("L-amqp", lambda acks: acked.set(), send_task=amqp_app.send_task)
    batcher.add_many([(connection.pk, 1, Message(i + 1, f"hall/t{i}", str(20 + i).encode())) for i in range(5)])
    batcher.start()
    try:
        # The listener acknowledges to the MQTT broker only after the send returned: with publisher confirms,
        # once RabbitMQ holds the batch.
        assert acked.wait(20), f"the batch was never confirmed by RabbitMQ: {caplog.text}"
    finally:
        batcher.stop()

    try:
        wait_for(lambda: TelemetryReading.objects.count() == 5, timeout=30, what="the 5 readings stored by the worker")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{amqp_worker.output()[-3000:]}") from None
    assert sorted(TelemetryReading.objects.values_list("value", flat=True)) == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert sum(IngestBatch.objects.values_list("message_count", flat=True)) == 5
    assert batcher.stats["send_failures"] == 0, caplog.text


def test_every_queue_the_worker_declares_is_a_durable_quorum_queue_that_never_drops(amqp_worker, amqp_broker_url):
    types = wait_for(lambda: queue_types(amqp_broker_url), timeout=30, what="the worker's queues")
    assert {name: types.get(name) for name in QUEUES} == dict.fromkeys(QUEUES, "quorum true")
    # RabbitMQ 4 would drop a message after 20 redeliveries unless the queue says otherwise.
    arguments = queue_arguments(amqp_broker_url, QUEUES)
    assert len(arguments) == len(QUEUES)
    assert all(f'{{"x-delivery-limit",{DELIVERY_LIMIT}}}' in line for line in arguments)


def test_queue_depths_counts_the_tasks_waiting_on_rabbitmq(amqp_app, amqp_broker_url, settings):
    settings.CELERY_BROKER_URL = amqp_broker_url
    assert metrics.queue_depths() == {"ingest": 0, "control": 0, "default": 0}  # not declared yet: nothing waits

    for _ in range(3):
        amqp_app.send_task("tasks.diagnostics.ping", args=["x"], queue="ingest", retry=False, ignore_result=True)
    amqp_app.send_task("tasks.diagnostics.ping", args=["y"], queue="control", retry=False, ignore_result=True)

    expected = {"ingest": 3, "control": 1, "default": 0}
    wait_for(lambda: metrics.queue_depths() == expected, timeout=10, what=f"depths {expected}")
    assert metrics.queue_depths(["ingest"]) == {"ingest": 3}


def test_metrics_and_health_show_the_rabbitmq_queue_depth(amqp_app, amqp_broker_url, settings, client):
    settings.CELERY_BROKER_URL = amqp_broker_url
    settings.METRICS_TOKEN = "tok-amqp-123"
    for _ in range(2):
        amqp_app.send_task("tasks.diagnostics.ping", args=["x"], queue="ingest", retry=False, ignore_result=True)

    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok-amqp-123").content.decode()
    assert 'mqtt_queue_depth{queue="ingest"} 2.0' in body
    assert 'mqtt_broker{broker="rabbitmq"} 1.0' in body
    assert 'mqtt_scrape_error{source="broker"} 0.0' in body

    health = client.get("/api/health").json()
    assert health["broker"]["kind"] == "rabbitmq" and health["broker"]["ok"] is True
    assert health["broker"]["queues"]["ingest"] == 2
    assert health["warnings"] == []  # RabbitMQ: no Redis durability to warn about


def test_a_countdown_waits_in_rabbitmqs_delayed_delivery_queues_not_in_the_worker(
    amqp_app, amqp_worker, amqp_broker_url
):
    """The ingest task's retries use a countdown. With quorum queues a worker cannot raise its prefetch to hold
    such a task, so it must wait in RabbitMQ (native delayed delivery: topic exchanges) and arrive when due."""
    result = amqp_app.send_task("tasks.diagnostics.ping", args=["later"], queue="default", countdown=2)

    assert result.get(timeout=30) == {"reply": "later", "database": True}
    assert queue_types(amqp_broker_url).get("celery_delayed_1") == "quorum true"
