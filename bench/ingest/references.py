"""The two reference designs, each a subprocess: `python -m bench.ingest.references MODE ...`.

- count: one paho-mqtt subscriber (QoS 1) that only counts: the raw ceiling of this machine and broker.
- naive: one process whose on_message validates with the parser registry and saves each reading with the
  ORM (topic get_or_create, TelemetryReading.objects.create): the design this product replaces.
Each prints one JSON line: messages received, seconds from the first to the last, CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import paho.mqtt.client as mqtt


def subscribe(port: int, expect: int, idle: float, handle) -> dict:  # noqa: ANN001
    state = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason, properties):  # noqa: ANN001, ANN202
        client.subscribe("#", qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties):  # noqa: ANN001, ANN202
        print(json.dumps({"ready": True}), flush=True)

    def on_message(client, userdata, msg):  # noqa: ANN001, ANN202
        handle(msg)
        now = time.monotonic()
        state["first"] = state["first"] or now
        state["last"] = now
        state["n"] += 1
        if state["n"] >= expect:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-ref-{os.getpid()}")
    client.on_connect, client.on_message, client.on_subscribe = on_connect, on_message, on_subscribe
    client.connect("127.0.0.1", port)
    client.loop_start()
    while not done.wait(0.2):
        if state["last"] and time.monotonic() - state["last"] > idle:
            break  # the broker dropped the rest
    client.loop_stop()
    return {"received": state["n"], "seconds": state["last"] - state["first"], "cpu": time.process_time()}


def naive_handler():  # noqa: ANN201
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from django.utils import timezone

    from mqtt_app.models import MqttConnection, MqttTopic, TelemetryReading
    from mqtt_app.parsers import ParseFailure, get_registry

    registry = get_registry()
    connection = MqttConnection.objects.get(pk=int(os.environ["BENCH_CONNECTION_ID"]))

    def handle(msg) -> None:  # noqa: ANN001
        now = timezone.now()
        topic, _ = MqttTopic.objects.get_or_create(
            connection=connection, topic=msg.topic, defaults={"first_seen_at": now, "last_seen_at": now}
        )
        parser = registry.claim(msg.topic, msg.payload)
        if parser is None:
            return
        try:
            readings = registry.run(parser.name, msg.topic, msg.payload, now)
        except ParseFailure:
            return
        for r in readings:
            value = r.value if isinstance(r.value, int | float) else None
            TelemetryReading.objects.create(
                connection=connection,
                topic=topic,
                device=r.device,
                metric=r.metric,
                value=value,
                timestamp=r.timestamp or now,
                received_at=now,
            )

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["count", "naive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    handle = naive_handler() if args.mode == "naive" else (lambda msg: None)
    print(json.dumps(subscribe(args.port, args.expect, args.idle, handle)), flush=True)


if __name__ == "__main__":
    main()
