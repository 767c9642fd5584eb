"""`GET /api/health`: no auth; 200 when the stack can do its job, 503 (with the reasons) when it cannot."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from mqtt_app import coordination
from tests.helpers import free_port

pytestmark = pytest.mark.django_db


def test_health_is_ok_with_nothing_to_run(anon_client):
    response = anon_client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]["ok"], body["redis"]["ok"], body["problems"]) == ("ok", True, True, [])


def test_health_reports_live_listeners_and_the_last_reconcile(anon_client, make_connection, redis_client):
    make_connection(is_active=True)
    coordination.write_heartbeat(redis_client, "listener-a", {"connections": {}})
    coordination.record_reconcile(redis_client, {"assigned": 1})
    body = anon_client.get("/api/health").json()
    assert (body["status"], body["listeners"], body["active_connections"]) == ("ok", 1, 1)
    assert 0 <= body["last_reconcile_age"] < 60
    assert body["last_reconcile"]["assigned"] == 1


def test_health_is_503_when_active_connections_have_no_listener(anon_client, make_connection, redis_client):
    make_connection(is_active=True)
    coordination.record_reconcile(redis_client, {})
    response = anon_client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["problems"] == ["1 active connection(s) but no live listener"]


def test_health_is_503_when_reconciliation_has_stopped(anon_client, make_connection, redis_client, settings):
    make_connection(is_active=True)
    coordination.write_heartbeat(redis_client, "listener-a", {})
    redis_client.set(coordination.last_reconcile_key(), str(time.time() - 4 * settings.MQTT_RECONCILE_INTERVAL))
    response = anon_client.get("/api/health")
    assert response.status_code == 503
    assert "reconciliation has not run recently" in response.json()["problems"][0]


def test_health_is_503_when_redis_does_not_answer(anon_client):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = anon_client.get("/api/health")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["ok"] is False
    assert body["database"]["ok"] is True
    assert "Redis does not answer" in body["problems"]
    assert elapsed < 5
