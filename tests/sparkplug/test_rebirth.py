"""Rebirth requests: with `sparkplug_rebirth` on, a seq gap makes the listener publish the Node Control/Rebirth
NCMD to the edge node (at most once per interval); with it off, the monitor publishes nothing."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from mqtt_app import coordination
from mqtt_app.models import MqttConnection, SparkplugNode
from mqtt_app.sparkplug import rebirth
from mqtt_app.sparkplug import sparkplug_b_pb2 as pb
from tests.helpers import wait_for
from tests.ingest.batches import publish

from .payloads import NODE_METRICS, metric, nbirth, payload

NODE = "spBv1.0/Boilers/{}/edge1"


class CommandWatcher:
    """A second MQTT client on the broker, recording every NCMD published."""

    def __init__(self, broker) -> None:  # noqa: ANN001
        self.received: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ncmd-watcher")
        self.client.on_connect = lambda c, *_: c.subscribe("spBv1.0/+/NCMD/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(autouse=True)
def _no_earlier_requests(redis_client, settings):
    """Rate limits and queued commands of an earlier run (ids repeat from one test database to the next)."""
    for pattern in (f"{settings.REDIS_KEY_PREFIX}:rebirth:*", coordination.publish_key("*")):
        for key in redis_client.scan_iter(match=pattern):
            redis_client.delete(key)


@pytest.fixture
def watcher(broker):
    instance = CommandWatcher(broker)
    yield instance
    instance.close()


def gap_traffic(broker) -> None:  # noqa: ANN001
    publish(broker, [(NODE.format("NBIRTH"), nbirth(3, *NODE_METRICS))])
    wait_for(lambda: SparkplugNode.objects.filter(edge_node="edge1", births=1).exists(), timeout=30, what="the birth")
    publish(broker, [(NODE.format("NDATA"), payload(metric(alias=1, float_value=60.0), seq=5))])  # 1 to 4 missing
    wait_for(lambda: SparkplugNode.objects.filter(edge_node="edge1", seq_gaps=1).exists(), timeout=30, what="the gap")


def test_the_command_is_the_rebirth_metric_set_true():
    decoded = pb.Payload.FromString(rebirth.command_payload(1_700_000_000_000))

    (only,) = decoded.metrics
    assert (only.name, only.datatype, only.boolean_value) == ("Node Control/Rebirth", pb.Boolean, True)
    assert rebirth.command_topic("Boilers", "edge1") == "spBv1.0/Boilers/NCMD/edge1"


@pytest.mark.django_db
def test_requests_are_rate_limited_and_only_for_connections_that_allow_them(connection, redis_client, settings):
    redis_client.hset(coordination.assignments_key(), str(connection.pk), "L9")
    assert rebirth.request(connection.pk, [("G", "E")]) == 0  # off by default

    MqttConnection.objects.filter(pk=connection.pk).update(sparkplug_rebirth=True)
    first = rebirth.request(connection.pk, [("G", "E"), ("G", "F")])
    again = rebirth.request(connection.pk, [("G", "E")])
    commands = rebirth.take_commands(redis_client, "L9")

    assert (first, again) == (2, 0)
    assert [(cid, topic) for cid, topic, _ in commands] == [(connection.pk, "spBv1.0/G/NCMD/E"),
                                                            (connection.pk, "spBv1.0/G/NCMD/F")]  # fmt: skip


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_seq_gap_makes_the_listener_ask_the_edge_node_for_a_rebirth(broker, live_connection, watcher):
    MqttConnection.objects.filter(pk=live_connection.pk).update(sparkplug_rebirth=True)

    gap_traffic(broker)

    wait_for(lambda: watcher.received, timeout=15, what="the rebirth command on the broker")
    (topic, raw), *_ = watcher.received
    (command,) = pb.Payload.FromString(raw).metrics
    assert topic == "spBv1.0/Boilers/NCMD/edge1" and command.boolean_value is True
    edge = SparkplugNode.objects.get(edge_node="edge1", device="")
    assert edge.rebirths_requested == 1 and edge.last_rebirth_request_at is not None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_rebirth_off_the_monitor_publishes_nothing(broker, live_connection, watcher):
    gap_traffic(broker)

    publish(broker, [(NODE.format("NDATA"), payload(metric(alias=1, float_value=61.0), seq=9))])  # another gap
    wait_for(lambda: SparkplugNode.objects.filter(edge_node="edge1", seq_gaps=2).exists(), timeout=30, what="gap 2")
    assert watcher.received == []


def test_a_listener_whose_redis_is_away_keeps_its_control_loop():
    import types

    import redis

    from mqtt_app.listener.service import ListenerService

    class Away:
        def lpop(self, *args):
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    ListenerService._take_commands(types.SimpleNamespace(redis=Away(), id="L1"))  # returns, raises nothing
