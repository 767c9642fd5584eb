"""Sparkplug B end to end: an edge node's real-format traffic published to a private Mosquitto, batched by a
real listener, stored by a real worker: readings named as in the births, the node/device states, the gap."""

from __future__ import annotations

import pytest

from mqtt_app.models import MqttParsingLog, MqttTopic, SparkplugNode, TelemetryReading
from mqtt_app.sparkplug import sparkplug_b_pb2 as pb
from tests.helpers import wait_for
from tests.ingest.batches import publish

from .payloads import NODE_METRICS, PUMP_METRICS, metric, nbirth, ndeath, payload

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NODE = "spBv1.0/Boilers/{}/edge1"
PUMP = "spBv1.0/Boilers/{}/edge1/pump"


def row(device: str = "") -> SparkplugNode | None:
    return SparkplugNode.objects.filter(group="Boilers", edge_node="edge1", device=device).first()


def test_births_aliases_deaths_and_a_gap_through_the_listener_and_the_worker(broker, live_connection):
    # The node connects: its NBIRTH (bdSeq 7) and its pump's DBIRTH, as a Tahu edge node sends them.
    publish(
        broker,
        [(NODE.format("NBIRTH"), nbirth(7, *NODE_METRICS)), (PUMP.format("DBIRTH"), payload(*PUMP_METRICS, seq=1))],
    )
    wait_for(lambda: (pump := row("pump")) is not None and pump.births == 1, timeout=30, what="both births stored")

    # DATA by alias only; seq 3 never arrives (a gap); then the pump dies, and a late will of an older session.
    speed = metric(alias=10, int_value=1480)
    temperature = metric(alias=1, float_value=63.25)
    publish(
        broker,
        [
            (PUMP.format("DDATA"), payload(speed, seq=2)),
            (NODE.format("NDATA"), payload(temperature, seq=4)),
            (PUMP.format("DDEATH"), payload(seq=5)),
            (NODE.format("NDEATH"), ndeath(6)),
        ],
    )
    wait_for(lambda: (edge := row()) is not None and edge.stale_deaths == 1, timeout=30, what="the stale NDEATH")

    readings = {
        (r.device, r.metric): (r.value, r.unit) for r in TelemetryReading.objects.filter(timestamp__isnull=False)
    }
    assert readings[("pump", "Speed")] == (1480.0, "rpm")
    assert readings[("edge1", "Supply/Temperature")] == (63.25, "Cel")
    assert readings[("pump", "Running")] == (1.0, "")  # from the DBIRTH
    edge, pump = row(), row("pump")
    assert (edge.is_online, edge.bd_seq, edge.seq_gaps, pump.is_online) == (True, 7, 1, False)
    assert not MqttParsingLog.objects.exists()
    assert set(MqttTopic.objects.values_list("parser_name", flat=True)) == {"sparkplug"}

    # The current session's NDEATH takes the node offline.
    publish(broker, [(NODE.format("NDEATH"), ndeath(7))])
    wait_for(lambda: not row().is_online, timeout=30, what="the node offline")
    assert row().last_death_at is not None
    assert (
        pb.Payload.FromString(bytes(MqttTopic.objects.get(topic=NODE.format("NDEATH")).last_payload))
        .metrics[0]
        .long_value
        == 7
    )
