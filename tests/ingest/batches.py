"""Ingest batches built with the listener's own encoder (mqtt_app.ingest.wire), and a real QoS 1 publisher."""

from __future__ import annotations

import time
import uuid

from mqtt_app.ingest.wire import encode_batch, encode_messages


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
    """A batch carrying several connections' messages: {connection id: [(topic, payload bytes), ...]}, received
    a millisecond apart from `at` (now by default)."""
    start = time.time() if at is None else at
    encoded = [encode_messages(cid, messages, qos=qos, retain=retain, at=start) for cid, messages in parts.items()]
    return encode_batch("test-listener", encoded, batch_id or uuid.uuid4())


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
