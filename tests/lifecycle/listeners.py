"""Listener processes for tests, and what they leave in Redis (heartbeats, queued batches)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from django.conf import settings

from tests.helpers import Process, manage_py, wait_for

# Fast timings for listener processes started by tests (the defaults suit production, not a test run).
FAST_LISTENER_ENV = {
    "MQTT_LISTENER_HEARTBEAT": "0.5",
    "MQTT_LISTENER_TTL": "2",
    "MQTT_RECONNECT_MIN_DELAY": "0.2",
    "MQTT_RECONNECT_MAX_DELAY": "1",
    "MQTT_AUTH_RETRY_DELAY": "300",
    "MQTT_BATCH_INTERVAL": "0.02",
}


class ListenerProcess(Process):
    def __init__(self, listener_id: str, env: dict[str, str], log_path: Path) -> None:
        self.listener_id = listener_id
        super().__init__(manage_py("mqtt_listener", "--id", listener_id), env=env, log_path=log_path)


def queued_batches(client: redis_lib.Redis) -> list[dict]:
    """The batches waiting on the `ingest` queue (nobody consumes it in these tests), as the worker gets them:
    kombu's envelope opened and the body deserialized with the content type it was sent with."""
    return [decode_queued(raw) for raw in client.lrange("ingest", 0, -1)]


def decode_queued(raw: bytes) -> dict:
    """One queued message's batch: kombu's envelope opened and the body deserialized with its content type."""
    from kombu.serialization import loads

    envelope = json.loads(raw)
    body = base64.b64decode(envelope["body"])
    content_type = envelope["content-type"]
    args, _kwargs, _embed = loads(body, content_type, envelope["content-encoding"], accept=[content_type])
    return args[0]


def queued_messages(client: redis_lib.Redis) -> list[tuple[int, Any]]:
    """(connection id, decoded Message) of every queued message, through the worker's own decoding."""
    from mqtt_app.ingest.wire import decode_batch

    return [
        (part.connection_id, message)
        for batch in queued_batches(client)
        for part in decode_batch(batch).parts
        for message in part.messages
    ]


def heartbeat(client: redis_lib.Redis, listener_id: str) -> dict | None:
    from mqtt_app import coordination

    raw = client.get(coordination.listener_key(listener_id))
    return json.loads(raw) if raw else None


def held_status(client: redis_lib.Redis, listener_id: str, connection_id: int) -> str | None:
    beat = heartbeat(client, listener_id) or {}
    return (beat.get("connections", {}).get(str(connection_id)) or {}).get("status")


@pytest.fixture
def fast_reader() -> str:
    """MQTT_FAST_READER of the listeners a test starts: parametrize a test with `fast_reader` ("true", "false") to
    run it on both read paths (the fast reader and stock paho-mqtt's); by default the environment's, else true."""
    return str(getattr(settings, "MQTT_FAST_READER", True)).lower()


@pytest.fixture
def listener_factory(process_env, tmp_path, fast_reader):
    """Start listener processes: listener_factory("L1", MQTT_SILENCE_TIMEOUT="1") waits for its heartbeat."""
    started: list[ListenerProcess] = []

    def start(listener_id: str = "L1", wait: bool = True, redis_url: str | None = None, **env) -> ListenerProcess:
        full_env = {**process_env, **FAST_LISTENER_ENV, "MQTT_SPOOL_DIR": str(tmp_path / "spool")}
        full_env |= {"MQTT_FAST_READER": fast_reader, **env}
        if redis_url:
            full_env["REDIS_URL"] = redis_url
        log = tmp_path / f"listener-{listener_id}-{len(started)}.log"
        process = ListenerProcess(listener_id, full_env, log)
        started.append(process)
        if wait:
            client = redis_lib.Redis.from_url(redis_url or settings.REDIS_URL)
            wait_for(
                lambda: heartbeat(client, listener_id) or not process.alive(),
                timeout=30,
                what=f"listener {listener_id} to heartbeat",
            )
            client.close()
            assert process.alive(), process.output()
        return process

    yield start
    for process in started:
        process.stop(timeout=10)


def pending_messages(client: redis_lib.Redis) -> list[tuple[int, Any]]:
    """Like `queued_messages`, plus the batches kept in the outbox and not queued (a listener killed between the
    two: the outbox's reaper queues them once the queue is drained); each batch once, as a worker stores it."""
    import msgpack

    from mqtt_app import outbox
    from mqtt_app.ingest.wire import decode_batch

    batches = {batch["id"]: batch for batch in queued_batches(client)}
    for raw in client.hvals(outbox.keys()[1]):
        batch = msgpack.unpackb(raw, raw=False)
        batches.setdefault(batch["id"], batch)
    return [
        (part.connection_id, message)
        for batch in batches.values()
        for part in decode_batch(batch).parts
        for message in part.messages
    ]
