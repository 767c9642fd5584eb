"""Fixtures for the ingestion tests: a connection, test parsers, a connection held by a real listener."""

from __future__ import annotations

import pytest

from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401 - the lifecycle tests' fixtures


@pytest.fixture
def connection(db):
    from mqtt_app.models import MqttConnection, Site

    site = Site.objects.create(name="Plant")
    return MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    """Per-process memory of the ingest modules (live throttle, rate meter, cap warnings) starts empty:
    rolled-back tests reuse ids, and a topic sent live by an earlier test would otherwise be throttled."""
    from mqtt_app.ingest import live, topics

    monkeypatch.setattr(live, "_coalescer", live.Coalescer())
    monkeypatch.setattr(live, "_rates", live.RateMeter())
    monkeypatch.setattr(live, "_watchers", live.Watchers())
    monkeypatch.setattr(topics, "_warned_cap", set())


TEST_PARSERS = ["tests.ingest.parsers.ExplodingParser", "tests.ingest.parsers.StallingParser"]


@pytest.fixture
def process_env(process_env, tmp_path):
    """Worker processes load the test parsers, know the stall marker, and redeliver unacked work quickly."""
    process_env.update(
        MQTT_PARSERS=",".join(TEST_PARSERS),
        INGEST_TEST_MARKER=str(tmp_path / "stalled"),
        CELERY_VISIBILITY_TIMEOUT="10",
    )
    return process_env


@pytest.fixture
def test_parsers(settings):
    settings.MQTT_PARSERS = TEST_PARSERS  # the registry rebuilds on this setting change


@pytest.fixture
def live_connection(broker, db, celery_worker_process, listener_factory, redis_client):  # noqa: F811
    """A connection to a private broker held by a real listener, its batches stored by a real worker."""
    from mqtt_app.models import MqttConnection, Site
    from mqtt_app.services.reconcile import run_reconcile
    from tests.helpers import wait_for
    from tests.lifecycle.listeners import held_status

    site = Site.objects.create(name="Live plant")
    connection = MqttConnection.objects.create(
        site=site, name="live", host=broker.host, port=broker.port, topics=[{"filter": "#", "qos": 1}]
    )
    listener_factory("L1")
    run_reconcile()
    wait_for(
        lambda: held_status(redis_client, "L1", connection.pk) == "connected",
        timeout=20,
        what="the listener to connect",
    )
    return connection
