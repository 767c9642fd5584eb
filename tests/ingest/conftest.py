"""Fixtures for the ingestion tests: a connection, and batches in the listener's wire format."""

from __future__ import annotations

import time
import uuid

import pytest

from mqtt_app.ingest.decode import encode_message


@pytest.fixture
def connection(db):
    from mqtt_app.models import MqttConnection, Site

    site = Site.objects.create(name="Plant")
    return MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)


def make_batch(
    connection_id: int,
    messages: list[tuple[str, bytes]],
    *,
    batch_id: str | None = None,
    qos: int = 1,
    retain: bool = False,
    at: float | None = None,
) -> dict:
    """A one-connection batch as the listener sends it; `messages` are (topic, payload bytes)."""
    return make_multi_batch({connection_id: messages}, batch_id=batch_id, qos=qos, retain=retain, at=at)


def make_multi_batch(
    parts: dict[int, list[tuple[str, bytes]]],
    *,
    batch_id: str | None = None,
    qos: int = 1,
    retain: bool = False,
    at: float | None = None,
) -> dict:
    """A batch carrying several connections' messages: {connection id: [(topic, payload bytes), ...]}."""
    start = time.time() if at is None else at
    return {
        "id": batch_id or str(uuid.uuid4()),
        "listener": "test-listener",
        "parts": [
            {
                "connection_id": connection_id,
                "messages": [
                    encode_message(topic, payload, qos=qos, retain=retain, received_at=start + index / 1000)
                    for index, (topic, payload) in enumerate(messages)
                ],
            }
            for connection_id, messages in parts.items()
        ],
    }


def old_shape(batch: dict) -> dict:
    """The same one-connection batch in the shape listeners sent before batches spanned connections."""
    (part,) = batch["parts"]
    return {
        "id": batch["id"],
        "connection_id": part["connection_id"],
        "listener": batch["listener"],
        "messages": part["messages"],
    }


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


# The listener process fixture of the lifecycle tests, reused rather than copied.
from tests.lifecycle.conftest import listener_factory  # noqa: E402,F401


@pytest.fixture
def live_connection(broker, db, celery_worker_process, listener_factory, redis_client):  # noqa: F811
    """A connection to a private broker held by a real listener, its batches stored by a real worker."""
    from mqtt_app.models import MqttConnection, Site
    from mqtt_app.services.reconcile import run_reconcile
    from tests.helpers import wait_for
    from tests.lifecycle.conftest import held_status

    site = Site.objects.create(name="Seed plant")
    connection = MqttConnection.objects.create(
        site=site, name="seed", host=broker.host, port=broker.port, topics=[{"filter": "#", "qos": 1}]
    )
    listener_factory("L1")
    run_reconcile()
    wait_for(
        lambda: held_status(redis_client, "L1", connection.pk) == "connected",
        timeout=20,
        what="the listener to connect",
    )
    return connection


def publish(broker, messages: list[tuple[str, bytes]]) -> None:  # noqa: ANN001
    """Publish with a real MQTT client at QoS 1 and wait for every PUBACK."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ingest-test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()
