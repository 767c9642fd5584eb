"""Faults: a SIGKILLed listener, a listener away while QoS 1 messages are published, Redis going away."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import redis as redis_lib
from django.test import override_settings

from mqtt_app import coordination
from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import held_status, queued_messages

# Both read paths: the fast reader and stock paho-mqtt's (MQTT_FAST_READER, docs/listener.md).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("fast_reader", ["true", "false"]),
]


def publish(broker, topic: str, *payloads: str) -> None:
    for payload in payloads:
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", topic, "-m", payload, "-q", "1"], check=True)


def queued_tasks(client: redis_lib.Redis, queue: str = "control") -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(queue, 0, -1)]


def batched(client: redis_lib.Redis) -> list[tuple[int, str]]:
    """(connection id, payload) of every message in the `ingest` queue (nobody consumes it here), sorted."""
    return sorted((cid, message.payload.decode()) for cid, message in queued_messages(client))


def batched_payloads(client: redis_lib.Redis) -> list[str]:
    return sorted(payload for _, payload in batched(client))


def test_connections_of_a_sigkilled_listener_are_taken_over_after_the_next_reconcile(
    broker, make_connection, listener_factory, redis_client
):
    connections = [make_connection(broker) for _ in range(4)]
    doomed = listener_factory("L1")
    listener_factory("L2")
    run_reconcile()
    wait_for(
        lambda: all(
            held_status(redis_client, coordination.read_assignments(redis_client)[c.pk], c.pk) == "connected"
            for c in connections
        ),
        timeout=15,
        what="all connected across two listeners",
    )
    assert set(coordination.read_assignments(redis_client).values()) == {"L1", "L2"}
    doomed.kill()
    wait_for(
        lambda: not redis_client.exists(coordination.listener_key("L1")), timeout=10, what="L1's heartbeat to expire"
    )
    # The survivor asks for a reconcile at once (failover need not wait for beat's next tick)...
    wait_for(lambda: "tasks.reconcile.reconcile" in queued_tasks(redis_client), timeout=5, what="a reconcile request")
    run_reconcile()  # ...which a worker would run; this test has none
    assert set(coordination.read_assignments(redis_client).values()) == {"L2"}
    wait_for(
        lambda: all(held_status(redis_client, "L2", c.pk) == "connected" for c in connections),
        timeout=15,
        what="L2 to hold every connection",
    )


def test_a_listener_restarted_with_the_same_client_id_gets_the_qos1_messages_published_while_down(
    broker, make_connection, listener_factory, redis_client
):
    v3 = make_connection(broker, protocol="3.1.1")
    v5 = make_connection(broker, protocol="5")
    first = listener_factory("L1")
    run_reconcile()
    wait_for(
        lambda: {held_status(redis_client, "L1", c.pk) for c in (v3, v5)} == {"connected"},
        timeout=10,
        what="both connected",
    )
    first.stop()
    publish(broker, "site/meter", "m1", "m2")
    listener_factory("L1")
    expected = sorted((c.pk, p) for c in (v3, v5) for p in ("m1", "m2"))
    wait_for(
        lambda: batched(redis_client) == expected,
        timeout=15,
        what="the messages published while the listener was away, on MQTT 3.1.1 and 5",
    )


@override_settings()
def test_messages_are_acked_only_once_batched_and_redelivered_when_redis_was_down(
    private_redis, broker, make_connection, listener_factory, settings
):
    settings.REDIS_URL = private_redis.url  # the reconcile in this process must use the same coordination state
    client = redis_lib.Redis.from_url(private_redis.url)
    connection = make_connection(broker)
    listener = listener_factory("L1", redis_url=private_redis.url, MQTT_SPOOL_MAX_BYTES="0")  # no spool: hold acks
    run_reconcile()
    wait_for(lambda: held_status(client, "L1", connection.pk) == "connected", timeout=10, what="connected")
    publish(broker, "site/a", "before")
    wait_for(lambda: batched_payloads(client) == ["before"], timeout=10, what="the first batch")

    private_redis.kill()
    publish(broker, "site/a", "during-1", "during-2")
    wait_for(lambda: "holding acknowledgements" in listener.output(), timeout=10, what="back-pressure")
    # A crash now: had the listener acked "during-*" before queueing them, they would be lost.
    listener.kill()
    private_redis.start()
    listener_factory("L1", redis_url=private_redis.url, MQTT_SPOOL_MAX_BYTES="0")
    wait_for(
        lambda: batched_payloads(client) == ["before", "during-1", "during-2"],
        timeout=15,
        what="the broker to redeliver what was never acknowledged, and nothing else",
    )
    client.close()


@override_settings()
def test_sending_and_acknowledging_resume_when_redis_comes_back(
    private_redis, broker, make_connection, listener_factory, settings
):
    settings.REDIS_URL = private_redis.url
    client = redis_lib.Redis.from_url(private_redis.url)
    connection = make_connection(broker)
    listener = listener_factory("L1", redis_url=private_redis.url, MQTT_SPOOL_MAX_BYTES="0")
    run_reconcile()
    wait_for(lambda: held_status(client, "L1", connection.pk) == "connected", timeout=10, what="connected")
    private_redis.kill()
    publish(broker, "site/a", "held-1", "held-2")
    wait_for(lambda: "holding acknowledgements" in listener.output(), timeout=10, what="back-pressure")
    private_redis.start()
    wait_for(lambda: batched_payloads(client) == ["held-1", "held-2"], timeout=15, what="resumed sending")
    wait_for(lambda: "acknowledging resumed" in listener.output(), timeout=5, what="resumed acknowledging")
    # Acknowledged this time: a restart with the same session gets nothing again.
    listener.stop()
    listener_factory("L1", redis_url=private_redis.url, MQTT_SPOOL_MAX_BYTES="0")
    publish(broker, "site/a", "after")
    wait_for(lambda: "after" in batched_payloads(client), timeout=10, what="the marker message")
    assert batched_payloads(client) == ["after", "held-1", "held-2"]
    client.close()


@override_settings()
def test_a_redis_outage_loses_nothing_when_the_site_broker_keeps_only_a_thousand_messages(
    private_redis, broker_factory, make_connection, listener_factory, settings
):
    """While Redis is away the listener spools and acknowledges: a broker with Mosquitto's default queue (1,000
    messages a client) drops nothing. The spool is replayed in order when Redis is back, the rest after it."""
    settings.REDIS_URL = private_redis.url
    client = redis_lib.Redis.from_url(private_redis.url)
    site_broker = broker_factory(max_queued=None)  # Mosquitto's defaults
    connection = make_connection(site_broker)
    listener = listener_factory("L1", redis_url=private_redis.url)
    run_reconcile()
    wait_for(lambda: held_status(client, "L1", connection.pk) == "connected", timeout=10, what="connected")

    private_redis.kill()
    sent = [f"m{n}" for n in range(2500)]
    publish_many(site_broker, "site/a", sent)
    wait_for(lambda: "spooling them" in listener.output(), timeout=10, what="the spool to take batches")
    private_redis.start()

    queued = lambda: sorted(p for _, p in batched(client))  # noqa: E731
    try:
        wait_for(lambda: len(queued()) >= len(sent), timeout=30, what="every message queued")
    finally:
        missing = sorted(set(sent) - set(queued()), key=lambda p: int(p[1:]))
        assert not missing, f"{len(missing)} missing: {missing[:10]}...{missing[-3:]}"
    assert queued() == sorted(sent)
    wait_for(lambda: "the spool is replayed" in listener.output(), timeout=10, what="the replay's end")
    client.close()


def publish_many(broker, topic: str, payloads: list[str]) -> None:
    """QoS 1 messages from one client, each acknowledged by the broker before the next."""
    import paho.mqtt.client as mqtt

    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        for payload in payloads:
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
