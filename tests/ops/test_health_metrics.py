"""The success metrics: uptime from connection events, parse success, error rate, reconcile, latency."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app import coordination
from mqtt_app.models import ConnectionStatus
from mqtt_app.observability import errors, health
from mqtt_app.observability.latency import record_latency
from tests.ops.factories import dead_letter, ingest, log_event, make_connection

pytestmark = pytest.mark.django_db


def test_uptime_counts_connected_time_and_leaves_stopped_time_out():
    now = timezone.now()
    conn = make_connection(status=ConnectionStatus.CONNECTED, last_heartbeat_at=now)
    log_event(conn, "connected", now - timedelta(hours=2))  # before the window: up at its start
    log_event(conn, "disconnected", now - timedelta(minutes=40))
    log_event(conn, "connected", now - timedelta(minutes=30))
    log_event(conn, "stopped", now - timedelta(minutes=20))
    log_event(conn, "started", now - timedelta(minutes=10))
    log_event(conn, "connected", now - timedelta(minutes=9))

    row = health.compute(3600, now=now)["connections"][0]["metrics"]

    # up 20 + 10 + 9 min, down 10 + 1 min, the 10 stopped minutes not counted
    assert row["up_seconds"] == pytest.approx(39 * 60)
    assert row["down_seconds"] == pytest.approx(11 * 60)
    assert row["uptime"]["value"] == pytest.approx(39 / 50)
    assert row["uptime"]["ok"] is False


def test_a_stale_heartbeat_turns_connected_time_into_downtime():
    now = timezone.now()
    conn = make_connection(status=ConnectionStatus.CONNECTED, last_heartbeat_at=now - timedelta(minutes=31))
    log_event(conn, "connected", now - timedelta(hours=2))

    metrics = health.compute(3600, now=now)["connections"][0]["metrics"]

    assert metrics["down_seconds"] == pytest.approx(30 * 60)  # heartbeat + 60 s grace, then down


def test_parse_success_comes_from_messages_and_a_connections_error_rate_from_its_dead_letters():
    conn = make_connection()
    ingest(conn, parsed=97, failed=3)  # the devices' failures: parse success, not the application's error rate
    dead_letter(conn)

    row = health.compute(3600)["connections"][0]

    assert row["metrics"]["messages_parsed"] == 97  # 194 readings, 97 messages
    assert row["metrics"]["parse_success_rate"] == {"value": 0.97, "target": 0.95, "op": ">=", "ok": True}
    assert row["metrics"]["error_rate"]["value"] == pytest.approx(0.01)
    assert row["metrics"]["error_rate"]["ok"] is False
    assert row["metrics"]["dead_letters"] == 1


def test_the_overall_error_rate_counts_dead_letters_failed_tasks_and_5xx_answers(settings):
    settings.REDIS_KEY_PREFIX = f"health-{time.time_ns()}"  # this test's task counts only
    conn = make_connection()
    ingest(conn, parsed=100, failed=0)
    dead_letter(conn)
    counts = errors.TaskCounts()
    for n in range(10):
        counts.add(failed=n == 0)
    counts.flush()
    record_latency("api", 0.01, error=True)
    record_latency("api", 0.01)

    overall = health.compute(3600)["overall"]["error_rate"]

    assert (overall["dead_letters"], overall["tasks"], overall["tasks_failed"]) == (1, 10, 1)
    assert (overall["requests"], overall["requests_failed"]) == (2, 1)
    assert overall["value"] == pytest.approx(3 / 112, abs=1e-6)  # of 100 messages, 10 tasks and 2 requests


def test_a_filtered_report_leaves_the_applications_tasks_and_requests_out():
    conn = make_connection()
    ingest(conn, parsed=100, failed=0)

    overall = health.compute(3600, [conn.pk])["overall"]["error_rate"]

    assert overall["value"] == 0 and "tasks" not in overall


def test_a_connection_below_target_is_listed_and_one_without_data_is_unknown():
    bad = make_connection("bad")
    make_connection("quiet", is_active=False)
    ingest(bad, parsed=5, failed=5)

    report = health.compute(3600)

    assert report["below_target"] == [bad.pk]
    quiet = next(row for row in report["connections"] if row["name"] == "quiet")
    assert quiet["healthy"] is None and quiet["metrics"]["uptime"]["value"] is None


def test_reconcile_and_latency_figures_come_from_redis(redis_client):
    coordination.record_reconcile(redis_client, {"seconds": 0.25})
    for ms in range(1, 101):
        record_latency("api", ms / 1000)
    record_latency("websocket", 0.7)

    overall = health.compute(3600)["overall"]

    assert overall["reconcile_seconds"]["value"] == 0.25 and overall["reconcile_seconds"]["ok"] is True
    assert overall["api_p99_seconds"]["value"] == pytest.approx(0.099)
    assert overall["api_p99_seconds"]["samples"] == 100
    assert overall["websocket_p99_seconds"]["ok"] is False


def test_a_stale_reconcile_is_below_target(redis_client, monkeypatch):
    coordination.record_reconcile(redis_client, {"seconds": 0.1})
    later = time.time() + 1000  # beat stopped: no reconcile for 1000 s
    monkeypatch.setattr(health.time, "time", lambda: later)

    assert health.compute(3600)["overall"]["reconcile_seconds"]["ok"] is False
