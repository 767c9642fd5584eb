"""/metrics: Bearer token or staff session, and the figures read from the database and Redis at scrape time."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mqtt_app import coordination
from mqtt_app.models import Role, SiteRole
from tests.ops.factories import ingest, make_connection

pytestmark = pytest.mark.django_db


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def test_without_credentials_metrics_answers_401(client, settings):
    settings.METRICS_TOKEN = "metrics-token-123"
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_refused_and_the_right_one_accepted(client, settings):
    settings.METRICS_TOKEN = "metrics-token-123"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_without_a_token_setting_only_superuser_sessions_get_in(client, settings, django_user_model):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    user = django_user_model.objects.create_user("viewer", password="pw-123456")
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    user.is_staff = True
    user.save()
    assert client.get("/metrics").status_code == 403  # staff alone: no site, no fleet-wide labels
    user.is_superuser = True
    user.save()
    assert client.get("/metrics").status_code == 200


def test_metrics_show_messages_states_queues_listeners_and_reconcile(client, settings, redis_client):
    settings.METRICS_TOKEN = "tok-abcdef"
    conn = make_connection("boiler", status="connected", messages_received=120)
    ingest(conn, parsed=90, failed=10)
    for _ in range(3):
        redis_client.lpush("ingest", "{}")
    redis_client.lpush("control", "{}")
    coordination.write_heartbeat(redis_client, "host-1", {"connections": 1})
    coordination.record_reconcile(redis_client, {"seconds": 0.42})

    found = samples(client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok-abcdef").content)

    labels = {("connection", str(conn.pk)), ("site", "Site boiler"), ("name", "boiler")}
    assert found[("mqtt_messages_received_total", frozenset(labels))] == 120
    assert found[("mqtt_messages_stored_total", frozenset(labels))] == 90
    assert found[("mqtt_messages_failed_total", frozenset(labels))] == 10
    assert found[("mqtt_readings_stored_total", frozenset(labels))] == 180
    assert found[("mqtt_connection_status", frozenset(labels | {("status", "connected")}))] == 1
    assert found[("mqtt_connection_status", frozenset(labels | {("status", "error")}))] == 0
    assert found[("mqtt_queue_depth", frozenset({("queue", "ingest")}))] == 3
    assert found[("mqtt_queue_depth", frozenset({("queue", "control")}))] == 1
    assert found[("mqtt_listeners", frozenset())] == 1
    assert found[("mqtt_reconcile_duration_seconds", frozenset())] == pytest.approx(0.42)
    assert found[("mqtt_health_connection", frozenset(labels | {("metric", "parse_success_rate")}))] == 0.9
    assert found[("mqtt_health_connection_ok", frozenset(labels | {("metric", "parse_success_rate")}))] == 0
    assert found[("mqtt_scrape_error", frozenset({("source", "database")}))] == 0


def test_a_broken_source_is_reported_without_failing_the_scrape(client, settings):
    settings.METRICS_TOKEN = "tok-abcdef"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok-abcdef")

    assert response.status_code == 200
    assert samples(response.content)[("mqtt_scrape_error", frozenset({("source", "broker")}))] == 1


def test_the_health_report_needs_a_login_and_validates_its_window(client, django_user_model):
    assert client.get("/health/metrics.json").status_code == 401
    viewer = django_user_model.objects.create_user("viewer", password="pw-123456")
    client.force_login(viewer)
    conn = make_connection()
    SiteRole.objects.create(user=viewer, site=conn.site, role=Role.VIEWER)
    ingest(conn, parsed=10, failed=0)

    report = json.loads(client.get("/health/metrics.json", {"window": "2h", "connection": conn.pk}).content)

    assert report["window_seconds"] == 7200
    assert report["connections"][0]["metrics"]["parse_success_rate"]["value"] == 1.0
    bad = client.get("/health/metrics.json", {"window": "forever"})
    assert bad.status_code == 400 and "window" in bad.json()["detail"]
    assert client.get("/health/metrics.json", {"connection": "x"}).status_code == 400
