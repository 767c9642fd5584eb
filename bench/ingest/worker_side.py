"""Worker-side cost measured in this process: store_batch on realistic 500-message batches (no listener, no
broker, no Celery): CPU µs per message for bulk_create and, on PostgreSQL, COPY; and the cost of the live
events sent through one long-lived event loop versus `async_to_sync` per call."""

from __future__ import annotations

import time
import uuid

from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import override_settings

from mqtt_app.events import StatsEvent, broadcast, connection_group
from mqtt_app.ingest import live
from mqtt_app.ingest.service import store_batch
from mqtt_app.ingest.wire import Batch, Message

from .mix import message


def make_batch(connection_id: int, start: int, size: int) -> Batch:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    messages = [Message(*message(seq), 1, False, now) for seq in range(start, start + size)]
    return Batch.single(uuid.uuid4(), connection_id, "bench", messages)


def store_cost(connection_id: int, batches: int, size: int, use_copy: bool, start: int) -> dict[str, float]:
    """CPU and wall µs per message of store_batch (this process only; the database's own CPU is extra)."""
    store_batch(make_batch(connection_id, start, size))  # topics discovered outside the timing
    prepared = [make_batch(connection_id, start + (i + 1) * size, size) for i in range(batches)]
    with override_settings(MQTT_INGEST_COPY=use_copy):
        cpu, wall = time.process_time(), time.perf_counter()
        for batch in prepared:
            store_batch(batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count = batches * size
    return {"cpu_us_per_msg": cpu / count * 1e6, "wall_us_per_msg": wall / count * 1e6, "msgs_per_s": count / wall}


def send_cost(connection_id: int, count: int = 200) -> dict[str, float]:
    """µs per group_send: the persistent loop of live.py, then async_to_sync(group_send) per call."""
    layer = get_channel_layer()
    group = connection_group(connection_id)
    event = StatsEvent(connection=connection_id, messages_per_second=0, messages_received=0)
    results = {}
    for name, send in (
        ("persistent_loop", lambda: live._loop.run(layer.group_send(group, {"type": "stats"}))),
        ("async_to_sync_each", lambda: broadcast(group, event)),
    ):
        send()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            send()
        results[f"{name}_cpu_us"] = (time.process_time() - cpu) / count * 1e6
        results[f"{name}_wall_us"] = (time.perf_counter() - wall) / count * 1e6
    return results


def measure(connection_id: int, batches: int = 20, size: int = 500) -> dict[str, dict[str, float]]:
    out = {"bulk_create": store_cost(connection_id, batches, size, False, 10_000_000)}
    if connection.vendor == "postgresql":
        out["copy"] = store_cost(connection_id, batches, size, True, 20_000_000)
    out["live_send"] = send_cost(connection_id)
    return out
