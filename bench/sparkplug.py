"""Print the worker's cost per message of Sparkplug B against JSON: `python -m bench.sparkplug [batches]`.

Both mixes go through the worker's storing path in this process (`ingest_batch`: parse, one transaction,
COPY, counters), on the configured database, in batches of 200 messages from 20 devices, each message carrying
five numeric values: JSON objects (generic_json), and Sparkplug DDATA by alias (a DBIRTH per device stored
first, so each batch also reads and writes the devices' state). The connection and its rows are deleted at the
end. Figures: CPU and wall µs per message, and the ratio.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from mqtt_app.ingest.pipeline import ingest_batch  # noqa: E402
from mqtt_app.ingest.wire import encode_batch, encode_messages  # noqa: E402
from mqtt_app.models import MqttConnection, Site  # noqa: E402
from mqtt_app.sparkplug import sparkplug_b_pb2 as pb  # noqa: E402

DEVICES = 20
BATCH = 200
FIELDS = ("t1", "t2", "p1", "p2", "flow")


def json_messages(offset: int) -> list[tuple[str, bytes]]:
    out = []
    for index in range(BATCH):
        values = ", ".join(f'"{name}": {offset + index + n * 0.5}' for n, name in enumerate(FIELDS))
        out.append((f"plant/dev{index % DEVICES}", f"{{{values}}}".encode()))
    return out


def sparkplug_births() -> list[tuple[str, bytes]]:
    birth = pb.Payload(timestamp=1_700_000_000_000, seq=0)
    birth.metrics.add(name="bdSeq", datatype=pb.UInt64, long_value=0)
    messages = [("spBv1.0/Plant/NBIRTH/edge1", birth.SerializeToString())]
    for device in range(DEVICES):
        payload = pb.Payload(timestamp=1_700_000_000_000, seq=device + 1)
        for alias, name in enumerate(FIELDS):
            payload.metrics.add(name=name, alias=alias, datatype=pb.Double, double_value=0.0)
        messages.append((f"spBv1.0/Plant/DBIRTH/edge1/dev{device}", payload.SerializeToString()))
    return messages


def sparkplug_messages(offset: int, seq: int) -> list[tuple[str, bytes]]:
    out = []
    for index in range(BATCH):
        payload = pb.Payload(timestamp=1_700_000_000_000 + offset + index, seq=(seq + index) % 256)
        for alias in range(len(FIELDS)):
            payload.metrics.add(alias=alias, double_value=offset + index + alias * 0.5)
        out.append((f"spBv1.0/Plant/DDATA/edge1/dev{index % DEVICES}", payload.SerializeToString()))
    return out


def store(connection_id: int, messages: list[tuple[str, bytes]]) -> None:
    part = encode_messages(connection_id, messages, at=time.time())
    outcome = ingest_batch(encode_batch("bench", [part], uuid.uuid4()), announce=False)
    assert outcome.status == "stored" and outcome.errors == 0, outcome


def measure(connection_id: int, batches: list[list[tuple[str, bytes]]]) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    for messages in batches:
        store(connection_id, messages)
    count = sum(len(messages) for messages in batches)
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6, count


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    site = Site.objects.create(name=f"bench-sparkplug-{uuid.uuid4().hex[:8]}")
    connection = MqttConnection.objects.create(site=site, name="bench", host="127.0.0.1", is_active=False)
    try:
        store(connection.pk, json_messages(0))  # topics discovered, caches warm: not timed
        store(connection.pk, sparkplug_births())
        store(connection.pk, sparkplug_messages(0, DEVICES + 1))
        seq = DEVICES + 1 + BATCH
        json_batches = [json_messages(n * BATCH) for n in range(1, count + 1)]
        spb_batches = [sparkplug_messages(n * BATCH, seq + (n - 1) * BATCH) for n in range(1, count + 1)]
        print(f"{count} batches of {BATCH} messages, {len(FIELDS)} values each, {DEVICES} devices; "
              f"database: {connection_vendor()}")  # fmt: skip
        print(f"{'mix':<22}{'CPU µs/msg':>12}{'wall µs/msg':>13}{'messages':>10}")
        results = {}
        for name, batches in (("JSON (generic_json)", json_batches), ("Sparkplug DDATA alias", spb_batches)):
            results[name] = measure(connection.pk, batches)
            cpu, wall, messages = results[name]
            print(f"{name:<22}{cpu:>12.1f}{wall:>13.1f}{messages:>10}")
        json_cpu, spb_cpu = results["JSON (generic_json)"][0], results["Sparkplug DDATA alias"][0]
        print(f"Sparkplug / JSON, CPU: {spb_cpu / json_cpu:.2f}x")
    finally:
        site.delete()


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
