"""Fixtures for the lifecycle tests: connections in the test database and listener processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from faults.procs import RedisServer
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401 - fixtures shared with tests/ingest


@pytest.fixture
def site(db):
    from mqtt_app.models import Site

    return Site.objects.create(name="plant")


@pytest.fixture
def make_connection(site) -> Callable:
    from mqtt_app.models import MqttConnection

    counter = iter(range(1, 10_000))

    def make(broker=None, **fields):  # noqa: ANN001
        fields.setdefault("name", f"conn-{next(counter)}")
        fields.setdefault("host", broker.host if broker else "127.0.0.1")
        fields.setdefault("port", broker.port if broker else 1)
        fields.setdefault("topics", [{"filter": "site/#", "qos": 1}])
        return MqttConnection.objects.create(site=site, **fields)

    return make


@pytest.fixture
def private_redis(tmp_path):
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis", aof="always")  # a kill and restart keeps its data, like production
    server.start()
    yield server
    if server.process is not None:
        server.process.stop(timeout=5)
