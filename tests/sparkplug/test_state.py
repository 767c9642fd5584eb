"""Sparkplug B through the worker's batch: births name the aliases of later DATA, in message order, across
batches and a fresh process; bdSeq guards NDEATH; seq gaps and DATA before BIRTH are counted."""

from __future__ import annotations

import pytest

from mqtt_app.ingest import topics
from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttParsingLog, SparkplugHost, SparkplugNode, TelemetryReading
from mqtt_app.parsers import reset_registry
from mqtt_app.sparkplug import sparkplug_b_pb2 as pb
from tests.ingest.batches import make_batch

from .payloads import NODE_METRICS, PUMP_METRICS, metric, nbirth, ndeath, payload

pytestmark = pytest.mark.django_db(transaction=True)

NODE = "spBv1.0/Boilers/{}/edge1"
PUMP = "spBv1.0/Boilers/{}/edge1/pump"


def store(connection, messages: list[tuple[str, bytes]], batch_id: str | None = None):
    outcome = ingest_batch(make_batch(connection.pk, messages, batch_id=batch_id))
    assert outcome.status in ("stored", "duplicate")
    return outcome


def births(bd: int = 0) -> list[tuple[str, bytes]]:
    return [(NODE.format("NBIRTH"), nbirth(bd, *NODE_METRICS)), (PUMP.format("DBIRTH"), payload(*PUMP_METRICS, seq=1))]


def pump_data(seq: int, speed: int = 1500) -> tuple[str, bytes]:
    by_alias = [metric(alias=10, int_value=speed), metric(alias=11, boolean_value=False)]
    return PUMP.format("DDATA"), payload(*by_alias, seq=seq)


def readings(**filters) -> list[tuple]:
    rows = TelemetryReading.objects.filter(**filters).order_by("id")
    return [(r.device, r.metric, r.value if r.value_type != "text" else r.text_value, r.unit) for r in rows]


def node(device: str = "") -> SparkplugNode:
    return SparkplugNode.objects.get(group="Boilers", edge_node="edge1", device=device)


def test_births_name_the_readings_and_data_by_alias_resolves_to_those_names(connection):
    node_data = (NODE.format("NDATA"), payload(metric(alias=1, float_value=62.0), seq=3))
    store(connection, [*births(), pump_data(2), node_data])

    assert readings(metric="Speed") == [("pump", "Speed", 1450.0, "rpm"), ("pump", "Speed", 1500.0, "rpm")]
    assert readings(metric="Running") == [("pump", "Running", 1.0, ""), ("pump", "Running", 0.0, "")]
    assert readings(metric="Mode") == [("pump", "Mode", "auto", "")]
    assert readings(metric="Supply/Temperature") == [
        ("edge1", "Supply/Temperature", 61.5, "Cel"),
        ("edge1", "Supply/Temperature", 62.0, "Cel"),
    ]
    edge, pump = node(), node("pump")
    assert (edge.is_online, edge.bd_seq, edge.births, edge.last_seq, edge.seq_gaps) == (True, 0, 1, 3, 0)
    assert (pump.is_online, pump.births, pump.data_before_birth, pump.unresolved_metrics) == (True, 1, 0, 0)
    assert {m["name"]: (m["alias"], m["datatype"], m["unit"]) for m in pump.metrics} == {
        "Speed": (10, pb.Int32, "rpm"),
        "Running": (11, pb.Boolean, ""),
        "Mode": (12, pb.String, ""),
    }
    assert edge.last_birth_at is not None and not MqttParsingLog.objects.exists()


def test_births_apply_in_message_order_across_topics_within_a_batch(connection):
    # The first DDATA comes before any birth: counted, its alias-only metrics unresolved; the last one resolves.
    store(connection, [pump_data(0, speed=1), *births(), pump_data(2, speed=3)])

    assert readings(metric="Speed") == [("pump", "Speed", 1450.0, "rpm"), ("pump", "Speed", 3.0, "rpm")]
    pump = node("pump")
    assert (pump.data_before_birth, pump.unresolved_metrics) == (1, 2)


def test_aliases_resolve_in_a_later_batch_after_a_fresh_process_state(connection):
    store(connection, births())
    topics.topic_cache.clear()  # a restarted worker: nothing in memory, the births only in the database
    reset_registry()

    store(connection, [pump_data(2, speed=1600)])

    assert readings(metric="Speed")[-1] == ("pump", "Speed", 1600.0, "rpm")


def test_a_stale_ndeath_does_not_kill_the_newer_session(connection):
    store(connection, births(bd=1))
    store(connection, births(bd=2))  # the node reconnected: a new session
    store(connection, [(NODE.format("NDEATH"), ndeath(1))])  # the will of the old one, delivered late

    edge = node()
    assert (edge.is_online, edge.bd_seq, edge.births, edge.stale_deaths) == (True, 2, 2, 1)
    assert node("pump").is_online

    store(connection, [(NODE.format("NDEATH"), ndeath(2))])

    edge, pump = node(), node("pump")
    assert (edge.is_online, pump.is_online) == (False, False)
    assert edge.last_death_at is not None and pump.last_death_at is not None


def test_a_ddeath_takes_only_its_device_offline(connection):
    store(connection, [*births(), (PUMP.format("DDEATH"), payload(seq=2))])

    assert (node().is_online, node("pump").is_online) == (True, False)


def test_a_sequence_gap_is_counted_and_the_wrap_after_255_is_not_a_gap(connection):
    store(connection, [*births(), pump_data(2), pump_data(5)])  # 3 and 4 never arrived
    assert node().seq_gaps == 1

    store(connection, [pump_data(seq) for seq in (*range(6, 256), 0, 1)])
    edge = node()
    assert (edge.seq_gaps, edge.last_seq) == (1, 1)


def test_a_redelivered_batch_changes_no_state_and_stores_nothing_twice(connection):
    batch_id = "6f1c1f5e-8d1f-4f43-9a53-1b2f6f9a0001"
    messages = [*births(), pump_data(2), pump_data(7)]
    store(connection, messages, batch_id=batch_id)
    before = list(SparkplugNode.objects.order_by("id").values())
    count = TelemetryReading.objects.count()

    assert store(connection, messages, batch_id=batch_id).status == "duplicate"

    assert list(SparkplugNode.objects.order_by("id").values()) == before
    assert TelemetryReading.objects.count() == count
    assert node().seq_gaps == 1


def test_host_application_state_in_both_spec_versions(connection):
    store(connection, [("spBv1.0/STATE/scada", b'{"online": true, "timestamp": 1700000000000}')])
    host = SparkplugHost.objects.get(host="scada")
    assert host.is_online and host.timestamp is not None

    store(connection, [("spBv1.0/STATE/scada", b"OFFLINE")])
    assert not SparkplugHost.objects.get(host="scada").is_online


def test_commands_are_decoded_but_store_nothing(connection):
    rebirth = metric("Node Control/Rebirth", datatype=pb.Boolean, boolean_value=True)
    outcome = store(connection, [(NODE.format("NCMD"), payload(rebirth))])

    assert (outcome.readings, outcome.errors) == (0, 0)
    assert not TelemetryReading.objects.exists()


def test_a_broken_message_is_a_parse_error_and_changes_no_state(connection):
    store(connection, births())
    broken = payload(metric(alias=10, string_value="fast"), seq=2)  # Speed is an Int32

    outcome = store(connection, [(PUMP.format("DDATA"), broken), (PUMP.format("DDATA"), b"\x0a\xff")])

    assert outcome.errors == 2
    groups = {(g.error_kind, g.location) for g in MqttParsingLog.objects.all()}
    assert groups == {("validation", "metrics.0"), ("decode", "protobuf")}
    assert node().last_seq == 1  # neither message counted as seen


def test_a_batch_of_data_does_not_rewrite_the_birth_certificate(connection):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    store(connection, births())
    with CaptureQueriesContext(db) as queries:
        store(connection, [pump_data(2), pump_data(3)])

    updates = [q["sql"] for q in queries.captured_queries if 'UPDATE "mqtt_sparkplugnode"' in q["sql"]]
    assert updates and all('"metrics"' not in sql for sql in updates)
    assert node("pump").metrics and node().last_seq == 3


def test_an_ndeath_takes_offline_the_devices_its_batch_does_not_name(connection):
    store(connection, [*births(), ("spBv1.0/Boilers/DBIRTH/edge1/fan", payload(*PUMP_METRICS, seq=2))])
    store(connection, [(NODE.format("NDEATH"), ndeath(0))])

    assert not node().is_online and not node("pump").is_online and not node("fan").is_online
    assert node("fan").last_death_at is not None


def test_data_by_name_before_any_birth_is_stored_and_counted(connection):
    named = payload(metric("Level", datatype=pb.Float, float_value=3.5), seq=4)
    store(connection, [(PUMP.format("DDATA"), named)])

    assert readings(metric="Level") == [("pump", "Level", 3.5, "")]
    assert (node("pump").data_before_birth, node("pump").unresolved_metrics) == (1, 0)


def test_a_state_payload_of_another_shape_is_a_parse_error(connection):
    outcome = store(connection, [("spBv1.0/STATE/scada", b'{"status": "up"}')])

    assert outcome.errors == 1
    assert MqttParsingLog.objects.get().location == "online"
    assert not SparkplugHost.objects.exists()
