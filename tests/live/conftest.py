"""Fixtures for the live-view tests: a connection, and the ingest batches of tests/ingest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest.fixtures import connection  # noqa: F401 - the same connection fixture


@pytest.fixture(autouse=True)
def _fresh_live_state(monkeypatch):
    """Per-process memory of the live events starts empty: rolled-back tests reuse ids."""
    from mqtt_app.ingest import live
    from tests.helpers import wait_for

    monkeypatch.setattr(live, "_coalescer", live.Coalescer())
    monkeypatch.setattr(live, "_topics", live.TopicStream())
    monkeypatch.setattr(live, "_rates", live.RateMeter())
    monkeypatch.setattr(live, "_watchers", live.Watchers())
    yield
    # Held-back events go out up to a second after the test: the next one (same ids on SQLite) must not get them.
    wait_for(lambda: not live._coalescer.scheduled, timeout=5, what="the held-back events to be sent")


class PrivateRedis:
    """A redis-server of this test's own on a free port, keeping nothing on disk: a restart empties it, as a
    restart of this machine's Redis would."""

    def __init__(self, folder: Path) -> None:
        from tests.helpers import free_port

        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from tests.helpers import Process, port_open, wait_for

        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--save", "", "--appendonly", "no"]
        self.process = Process(
            args, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, log_path=self.folder / "log"
        )
        wait_for(lambda: port_open(self.port), timeout=20, what=f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def operator(transactional_db):
    from django.contrib.auth import get_user_model

    # A superuser: every site (roles per site are tested in tests/security/test_access_matrix.py).
    return get_user_model().objects.create_user("operator", password="operator-pass", is_staff=True, is_superuser=True)


@pytest.fixture
def publish(broker):
    """Publish on the test broker from one connected client: (topic, payload, retain=False)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="live-test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()

    def send(topic: str, payload: bytes, retain: bool = False) -> None:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)

    yield send
    client.loop_stop()
    client.disconnect()
