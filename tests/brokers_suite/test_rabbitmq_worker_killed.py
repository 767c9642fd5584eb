"""On RabbitMQ a killed worker's batch comes back as soon as its connection drops: no visibility timeout to wait
out, and every message stored exactly once."""

from __future__ import annotations

import pytest

from mqtt_app.models import MqttConnection, Site, TelemetryReading
from tests.brokers_suite.amqp import start_amqp_worker
from tests.helpers import wait_for
from tests.ingest.batches import make_batch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def process_env(process_env, tmp_path):
    process_env.update(
        MQTT_PARSERS="tests.ingest.parsers.StallingParser",  # "-1" stalls the worker once: a batch to kill it in
        INGEST_TEST_MARKER=str(tmp_path / "stalled"),
    )
    return process_env


def test_a_killed_workers_batch_is_redelivered_at_once_and_stored_once(
    amqp_app, amqp_broker_url, amqp_worker, process_env, tmp_path
):
    connection = MqttConnection.objects.create(site=Site.objects.create(name="P"), name="m", host="h", port=1883)
    messages = [[(f"stall/{b}", str(b * 100 + i).encode()) for i in range(100)] for b in range(3)]
    batches = [make_batch(connection.pk, part) for part in messages]
    batches[0]["parts"][0]["payloads"][50] = b"-1"  # the stalling parser's trigger
    for batch in batches:
        amqp_app.send_task("tasks.ingest.ingest_batch", args=[batch], queue="ingest", ignore_result=True)
    wait_for((tmp_path / "stalled").exists, timeout=30, what="the worker to stall inside the first batch")

    amqp_worker.kill()  # SIGKILL, main process and pool child: its connection to RabbitMQ drops
    assert TelemetryReading.objects.count() < 300
    again = start_amqp_worker(amqp_app, amqp_broker_url, process_env, tmp_path / "worker2.log", "again@%h")
    try:
        # Far below the Redis broker's 30 s visibility timeout: RabbitMQ requeued the batch when the socket closed.
        wait_for(lambda: TelemetryReading.objects.count() >= 300, timeout=25, interval=0.2, what="all 300 readings")
    finally:
        again.stop()
    values = sorted(TelemetryReading.objects.values_list("value", flat=True))
    expected = sorted([float(b * 100 + i) for b in range(3) for i in range(100) if (b, i) != (0, 50)] + [-1.0])
    assert values == expected  # nothing lost, nothing twice
