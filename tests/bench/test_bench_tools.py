"""The benchmark's own tools are right: the hand-rolled publisher speaks MQTT, the mix parses as intended."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from bench.ingest.mix import PROBE_TOPIC, SEQ_BASE, check_formats, message
from tests.helpers import ROOT


def test_every_format_of_the_mix_yields_exactly_one_sequence_reading():
    assert check_formats() == dict.fromkeys(check_formats(), "")


@pytest.mark.slow
def test_the_benchmark_publisher_delivers_every_message_at_qos1(broker):
    received: list[tuple[str, bytes]] = []
    subscribed, done = threading.Event(), threading.Event()

    def on_message(client, userdata, msg):
        received.append((msg.topic, msg.payload))
        if len(received) == 20:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-tools-test")
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe("#", qos=1)
    assert subscribed.wait(10)

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest.publisher",
            "--port",
            str(broker.port),
            "--rate",
            "1000",
            "--count",
            "20",
            "--start-seq",
            "0",
            "--probe-every",
            "10",
            "--probe-start",
            "0",
            "--client-id",
            "pub",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert done.wait(10)
    client.loop_stop()

    report = json.loads(out)
    assert (report["sent"], report["acked"], sorted(report["probes"])) == (20, 20, ["0", "1"])
    assert received[0] == (PROBE_TOPIC, b"0")
    assert received[1] == message(1)
    assert str(SEQ_BASE + 1).encode() in received[1][1]


@pytest.mark.django_db
def test_a_second_benchmark_on_the_same_redis_refuses_to_start_and_leaves_the_first_ones_rows():
    import os

    from bench.ingest.run import SITE, IngestBench
    from mqtt_app.models import Site

    first = IngestBench(lambda line: None, 1, dict(os.environ))
    first.lock()
    first.setup_rows(1)
    second = IngestBench(lambda line: None, 1, dict(os.environ))

    with pytest.raises(RuntimeError, match="another mqtt_bench .* is running against this Redis"):
        second.start()
    second.cleanup()

    assert Site.objects.filter(name=SITE).exists()  # the refused run touched nothing of the first one
    first.cleanup()
    assert not first.redis.exists(first.lock_key)


@pytest.mark.django_db
def test_the_latency_poll_sees_each_probe_topics_newest_probes_of_this_phase_only():
    """The poll reads each probe topic's newest PROBE_WINDOW readings (not every probe of the run): the
    probes of this phase among them, of every connection, with the listener's receipt time, and nothing older
    than the phase's first probe."""
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from bench.ingest.run import PROBE_WINDOW, probe_poll
    from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading

    site = Site.objects.create(name="bench")
    start = datetime(2026, 11, 27, tzinfo=UTC)
    topic_ids, connection_ids = [], []
    for index in range(2):
        conn = MqttConnection.objects.create(site=site, name=f"c{index}", host="127.0.0.1", port=1883)
        topic = MqttTopic.objects.create(connection=conn, topic=PROBE_TOPIC, first_seen_at=start, last_seen_at=start)
        topic_ids.append(topic.pk)
        connection_ids.append(conn.pk)
        probes = [  # probes 0-39, the newest last
            TelemetryReading(connection=conn, topic=topic, metric="value", value=float(number),
                             timestamp=start + timedelta(seconds=number),
                             received_at=start + timedelta(milliseconds=number))
            for number in range(40)
        ]  # fmt: skip
        TelemetryReading.objects.bulk_create(probes)

    def expected(first: int) -> list[tuple[int, float, float]]:
        received = start.timestamp()
        return [(cid, float(n), received + n / 1000) for cid in connection_ids for n in range(first, 40)]

    assert sorted(probe_poll(topic_ids, probe_start=30)()) == expected(30)
    # PostgreSQL reads each topic's newest PROBE_WINDOW only; SQLite (no LATERAL) reads every probe.
    oldest = 40 - PROBE_WINDOW if connection.vendor == "postgresql" else 0
    assert sorted(probe_poll(topic_ids, probe_start=0)()) == expected(oldest)


@pytest.mark.django_db
def test_the_benchmark_counts_the_checkpoints_of_postgresql_during_a_phase():
    """A checkpoint's final fsync stalls commits, so each phase reports how many fell in it."""
    from django.db import connection

    from bench.ingest.checkpoints import checkpoints

    if connection.vendor != "postgresql":
        assert checkpoints() is None
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR pg_has_role(current_user, 'pg_checkpoint', 'MEMBER') FROM pg_roles "
                       "WHERE rolname = current_user")  # fmt: skip
        if not cursor.fetchone()[0]:
            pytest.skip("CHECKPOINT needs a superuser or the pg_checkpoint role (.ci/run connects as postgres)")
        before = checkpoints()
        cursor.execute("CHECKPOINT")
    deadline = time.monotonic() + 5  # the checkpointer reports its counters as it finishes
    while checkpoints() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoints() == before + 1


@pytest.mark.django_db
def test_the_checkpoint_settings_are_read_from_the_server():
    from django.db import connection

    from bench.ingest.checkpoints import checkpoint_settings

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL server setting; CI (.ci/run) runs it on PostgreSQL")
    with connection.cursor() as cursor:
        found = checkpoint_settings(cursor)
        cursor.execute("SELECT pg_size_bytes(current_setting('max_wal_size')), "
                       "extract(epoch FROM current_setting('checkpoint_timeout')::interval)")  # fmt: skip
        wal_bytes, timeout = cursor.fetchone()
    assert found == {"max_wal_size_mb": wal_bytes // 2**20, "checkpoint_timeout_s": int(timeout)}


def test_slow_probes_are_counted_by_the_second_of_the_phase_they_were_published_in():
    """A p99 made by one stall shows as one or two seconds of the phase, to set beside the database's log."""
    from bench.ingest.run import slow_seconds

    start = 1_800_000_000.0
    latencies = [(40.0, start), (45.0, start + 0.5), (150.0, start + 12.2), (240.0, start + 12.9)]
    latencies += [(101.0, start + 13.0), (100.0, start + 13.5), (60.0, start + 29.9)]
    # The goal is "under 100 ms": a probe of exactly 100 ms misses it. Keys are seconds, in time order.
    assert slow_seconds(latencies) == {"12": 2, "13": 2}
    assert list(slow_seconds([(500.0, start + 20), (500.0, start + 3), (1.0, start)])) == ["3", "20"]
    assert slow_seconds([(30.0, start), (99.9, start + 1)]) == {}
    assert slow_seconds([]) == {}
    assert slow_seconds(latencies, threshold_ms=50) == {"12": 2, "13": 2, "29": 1}


def test_the_benchmark_worker_sends_task_events_as_the_procfile_worker_does():
    """Its figures are the deployed worker's: with -E (for Flower) in both, or in neither."""
    from bench.procs import celery_worker

    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)
    deployed = procfile["worker"].split()
    bench = celery_worker("ingest,control", 2, "bench")
    assert ("-E" in bench) == ("-E" in deployed)
    assert "-E" in deployed  # Flower's task pages need it (the ingest task itself opts out: tasks/ingest.py)


def test_a_phases_batches_are_reported_by_stage_from_the_workers_timing_lines(tmp_path):
    from bench.ingest.run import batch_stages

    log = tmp_path / "batch-timing.log"
    lines = [  # received, sent, started, committed: 10 ms batching, 2 ms queue, 20 ms storing; one slow store
        f"batch={i} messages=400 received={100 + i:.4f} sent={100.010 + i:.4f} started={100.012 + i:.4f} "
        f"committed={100.032 + i + (0.1 if i == 5 else 0):.4f}"
        for i in range(10)
    ]
    lines += [
        "batch=x messages=1 received=104.0 sent=- started=104.5 committed=104.6",  # no sent_at: skipped
        "some other line",
        "batch=y messages=1 received=500.0 sent=500.0 started=500.0 committed=501.0",  # another phase
    ]
    log.write_text("\n".join(lines) + "\n")

    stages = batch_stages(log, start=100.0, end=110.0)

    assert stages["batches"] == 10
    assert stages["batching"]["p50"] == pytest.approx(10, abs=0.2)
    assert stages["queue"]["max"] == pytest.approx(2, abs=0.2)
    assert stages["storing"]["p50"] == pytest.approx(20, abs=0.2)
    assert stages["storing"]["max"] == pytest.approx(120, abs=0.2)
    assert stages["received_to_commit"]["max"] == pytest.approx(132, abs=0.2)
    assert batch_stages(tmp_path / "missing.log", 0, 1e12) == {}
