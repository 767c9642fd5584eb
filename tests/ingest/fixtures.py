"""Ingestion's fixtures shared with other test folders (tests/sparkplug): a connection, a connection held by a real
listener and stored by a real worker, and the ingest modules' per-process memory emptied for each test."""

from __future__ import annotations

import pytest

__all__ = ["_fresh_process_state", "connection", "live_connection"]


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
