"""Through a real Celery worker process: batches sent like the listener sends them end up as rows."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mqtt_app.models import MqttParsingLog, MqttTopic, TelemetryReading
from tests.helpers import Process, celery_bin, wait_for
from tests.ingest.conftest import make_batch

pytestmark = pytest.mark.django_db(transaction=True)


def send(batch: dict) -> None:
    from tasks.ingest import ingest_batch

    ingest_batch.apply_async(args=[batch], queue="ingest")


def test_parser_validates_and_saves_telemetry(connection, celery_worker_process):
    tasmota = json.dumps({"Time": "2026-11-26T10:00:00", "ENERGY": {"Power": 42.5, "Voltage": 230}}).encode()
    send(make_batch(connection.pk, [("tele/plug1/SENSOR", tasmota), ("home/hall/temperature", b"19.5")]))

    readings = wait_for(lambda: list(TelemetryReading.objects.all()) if TelemetryReading.objects.count() >= 3
                        else None, timeout=20, what="three readings")
    by_metric = {r.metric: r for r in readings}
    assert by_metric["temperature"].value == 19.5
    assert any(r.value == 42.5 and r.topic.topic == "tele/plug1/SENSOR" for r in readings)
    assert MqttTopic.objects.get(topic="tele/plug1/SENSOR").parser_name == "tasmota"


def test_parsing_error_creates_log_entry(connection, celery_worker_process, tmp_path):
    send(make_batch(connection.pk, [("home/hall/temperature", b"19.5")]))
    wait_for(lambda: TelemetryReading.objects.exists(), timeout=20, what="the topic to be claimed")

    send(make_batch(connection.pk, [("home/hall/temperature", b"{not a number")]))

    row = wait_for(lambda: MqttParsingLog.objects.first(), timeout=20, what="a parsing log row")
    assert (row.topic_name, row.parser_name, row.error_kind) == ("home/hall/temperature", "plain_number", "validation")
    log_file = Path(tmp_path / "logs" / "mqtt_parsing.log")
    line = wait_for(lambda: log_file.exists() and log_file.read_text(), timeout=10, what="mqtt_parsing.log")
    assert "topic=home/hall/temperature" in line and "kind=validation" in line and "{not a number" in line


@pytest.mark.slow
def test_a_worker_killed_mid_batch_stores_every_message_exactly_once_after_restart(
    connection, celery_worker_process, process_env, tmp_path, redis_client
):
    batches = [make_batch(connection.pk, [(f"stall/{b}", str(b * 100 + i).encode()) for i in range(100)])
               for b in range(5)]
    batches[0]["messages"][50]["payload"] = "LTE="  # base64 of "-1": the stalling parser's trigger
    for batch in batches:
        send(batch)

    marker = tmp_path / "stalled"
    wait_for(marker.exists, timeout=30, what="the worker to stall inside the first batch")
    celery_worker_process.kill()  # SIGKILL the whole worker (main process and pool child)
    assert TelemetryReading.objects.count() < 500
    # A starting worker restores unacked messages older than the visibility timeout (10 s here); later it only
    # rescans every ~100 s (kombu's unacked_restore_interval x throttle). Start it once they are that old.
    wait_for(lambda: unacked_age(redis_client) > 10.5, timeout=30, interval=0.2, what="the unacked batches to expire")

    restarted = start_worker(process_env, tmp_path / "worker2.log")
    try:
        wait_for(lambda: TelemetryReading.objects.count() >= 500, timeout=90, interval=0.5,
                 what="all 500 readings after the restart")
        values = sorted(TelemetryReading.objects.values_list("value", flat=True))
        expected = sorted([float(b * 100 + i) for b in range(5) for i in range(100) if (b, i) != (0, 50)] + [-1.0])
        assert values == expected  # nothing lost, nothing twice
    finally:
        restarted.stop()


def unacked_age(redis_client) -> float:
    """Seconds since the oldest message still unacknowledged in the Celery Redis transport was delivered."""
    oldest = redis_client.zrange("unacked_index", 0, 0, withscores=True)
    return time.time() - oldest[0][1] if oldest else 0.0


def start_worker(env: dict[str, str], log: Path) -> Process:
    return Process(
        [celery_bin(), "-A", "project", "worker", "-Q", "ingest,control,default", "--concurrency", "1",
         "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n", "again@%h"],
        env=env, log_path=log,
    )
