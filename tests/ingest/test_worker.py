"""Through a real Celery worker process: batches sent like the listener sends them end up as rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mqtt_app.models import MqttParsingLog, MqttTopic, TelemetryReading
from tests.helpers import Process, wait_for, worker_command
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db(transaction=True)


def send(batch: dict) -> None:
    from tasks.ingest import ingest_batch

    ingest_batch.apply_async(args=[batch], queue="ingest")


def test_a_batch_sent_like_the_listener_does_is_stored_by_the_worker(connection, celery_worker_process):
    send(make_batch(connection.pk, [("home/hall/temperature", b"19.5"), ("home/hall/temperature", b"x")]))

    wait_for(
        lambda: TelemetryReading.objects.exists() and MqttParsingLog.objects.exists(),
        timeout=20,
        what="a reading and a parsing log row",
    )
    assert TelemetryReading.objects.get().value == 19.5
    assert MqttTopic.objects.get().message_count == 2


@pytest.mark.slow
def test_a_worker_killed_mid_batch_stores_every_message_exactly_once_after_restart(
    connection, celery_worker_process, process_env, tmp_path, redis_client
):
    batches = [
        make_batch(connection.pk, [(f"stall/{b}", str(b * 100 + i).encode()) for i in range(100)]) for b in range(5)
    ]
    batches[0]["parts"][0]["payloads"][50] = b"-1"  # the stalling parser's trigger
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
        wait_for(
            lambda: TelemetryReading.objects.count() >= 500,
            timeout=90,
            interval=0.5,
            what="all 500 readings after the restart",
        )
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
        worker_command("again@%h"),
        env=env,
        log_path=log,
    )


@pytest.mark.parametrize("enabled", [False, True], ids=["events-off-by-default", "MQTT_INGEST_TASK_EVENTS=true"])
def test_a_worker_sending_events_sends_none_for_ingest_batches_unless_told_to(
    enabled, connection, process_env, tmp_path
):
    """The Procfile's worker runs with -E (for Flower). Each ingest batch would cost three events; by default
    they are not sent, while every other task's still are (the ping here)."""
    from project.celery import app
    from tasks.diagnostics import ping
    from tasks.ingest import ingest_batch

    env = process_env | ({"MQTT_INGEST_TASK_EVENTS": "true"} if enabled else {})
    worker = Process(worker_command("events@%h", extra=("-E",)), env=env, log_path=tmp_path / "worker.log")
    seen = EventLog(app)
    try:
        # Its worker-online event: the receiver is subscribed and the worker up, so no event can be missed.
        wait_for(lambda: seen.kinds() & {"worker-online", "worker-heartbeat"}, timeout=30, what="the worker online")
        sent = ingest_batch.apply_async(args=[make_batch(connection.pk, [("home/events", b"1.5")])], queue="ingest")
        wait_for(TelemetryReading.objects.exists, timeout=30, what="the batch stored by the worker")
        # Sent after the batch was stored, by the same worker: once its events are in, the batch's would be too.
        later = ping.apply_async(queue="default")
        assert later.get(timeout=20)["database"] is True
        wait_for(lambda: seen.has(later.id, "task-succeeded"), timeout=20, what="the ping's task-succeeded event")
        batch_events = seen.types_of(sent.id)
        if enabled:
            assert {"task-received", "task-started", "task-succeeded"} <= batch_events
        else:
            assert batch_events == set()
    finally:
        seen.stop()
        worker.stop()


class EventLog:
    """Every Celery event sent through the broker while it runs (a receiver in a thread, as Flower has)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import threading

        self.events: list[dict] = []
        self._connection = app.connection_for_read()
        self._receiver = app.events.Receiver(self._connection, handlers={"*": self.events.append})
        self._thread = threading.Thread(target=self._receiver.capture, kwargs={"wakeup": False}, daemon=True)
        self._thread.start()

    def kinds(self) -> set[str]:
        return {event["type"] for event in list(self.events)}

    def types_of(self, task_id: str) -> set[str]:
        return {event["type"] for event in list(self.events) if event.get("uuid") == task_id}

    def has(self, task_id: str, kind: str) -> bool:
        return kind in self.types_of(task_id)

    def stop(self) -> None:
        self._receiver.should_stop = True
        self._thread.join(5)
        self._connection.release()
