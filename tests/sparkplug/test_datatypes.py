"""Every Sparkplug B datatype, encoded with the official schema, becomes the reading value it means."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from mqtt_app.parsers import ParseFailure, get_registry
from mqtt_app.sparkplug import sparkplug_b_pb2 as pb

from .payloads import T0, metric, payload

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TOPIC = "spBv1.0/Plant/NBIRTH/edge1"


def nested_templates(depth: int) -> bytes:
    """A metric whose template holds a metric whose template holds ... `depth` levels (hand-encoded: the
    schema's own encoder would build it, but this is what a hostile publisher sends)."""
    inner = pb.Payload.Metric(name="x").SerializeToString()
    for _ in range(depth):
        template = b"\x12" + _varint(len(inner)) + inner  # Template.metrics (field 2)
        inner = b"\x92\x01" + _varint(len(template)) + template  # Metric.template_value (field 18)
    return b"\x12" + _varint(len(inner)) + inner  # Payload.metrics (field 2)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def run(data: bytes, topic: str = TOPIC):
    return get_registry().run("sparkplug", topic, data, RECEIVED_AT)


def value_of(m) -> object:
    readings = run(payload(m))
    assert len(readings) == 1
    return readings[0].value


@pytest.mark.parametrize(
    ("datatype", "fields", "expected"),
    [
        (pb.Int8, {"int_value": 2**32 - 5}, -5.0),  # two's complement in the uint32 field
        (pb.Int8, {"int_value": 0xFB}, -5.0),  # or in the type's own width
        (pb.Int16, {"int_value": 2**16 - 300}, -300.0),
        (pb.Int32, {"int_value": 2**32 - 70000}, -70000.0),
        (pb.Int64, {"long_value": 2**64 - 5_000_000_000}, -5_000_000_000.0),
        (pb.UInt8, {"int_value": 250}, 250.0),
        (pb.UInt16, {"int_value": 65000}, 65000.0),
        (pb.UInt32, {"int_value": 4_000_000_000}, 4_000_000_000.0),
        (pb.UInt64, {"long_value": 2**40}, float(2**40)),
        (pb.Float, {"float_value": 1.5}, 1.5),
        (pb.Double, {"double_value": -2.25}, -2.25),
        (pb.Boolean, {"boolean_value": True}, True),
        (pb.String, {"string_value": "auto"}, "auto"),
        (pb.Text, {"string_value": "a longer text"}, "a longer text"),
        (pb.UUID, {"string_value": str(uuid.UUID(int=7))}, str(uuid.UUID(int=7))),
        (pb.DateTime, {"long_value": T0}, "2023-11-14T22:13:20Z"),
    ],
)
def test_every_scalar_datatype_gives_its_value(datatype, fields, expected):
    value = value_of(metric("m", datatype=datatype, **fields))
    assert value == expected and type(value) is type(expected)


def test_a_dataset_is_kept_as_json_text():
    dataset = pb.Payload.DataSet(num_of_columns=2, columns=["t", "ok"], types=[pb.Int32, pb.Boolean])
    row = dataset.rows.add()
    row.elements.add(int_value=5)
    row.elements.add(boolean_value=True)
    value = value_of(metric("table", datatype=pb.DataSet, dataset_value=dataset))
    assert json.loads(value) == {"columns": ["t", "ok"], "types": [pb.Int32, pb.Boolean], "rows": [[5, True]]}


def test_a_template_is_kept_as_json_text():
    template = pb.Payload.Template(template_ref="Motor", version="1")
    template.metrics.append(metric("Amps", datatype=pb.Float, float_value=3.5))
    value = json.loads(value_of(metric("motor1", datatype=pb.Template, template_value=template)))
    assert value["template_ref"] == "Motor" and value["metrics"][0]["name"] == "Amps"


def test_is_null_is_stored_as_no_value_and_is_transient_not_at_all():
    readings = run(
        payload(
            metric("gone", datatype=pb.Double, is_null=True),
            metric("scratch", datatype=pb.Double, is_transient=True, double_value=1.0),
        )
    )
    assert [(r.metric, r.value) for r in readings] == [("gone", None)]


def test_a_historical_metric_keeps_its_own_timestamp_others_the_payloads():
    readings = run(
        payload(
            metric("past", datatype=pb.Double, double_value=1.0, is_historical=True, timestamp=T0 - 3_600_000),
            metric("now", datatype=pb.Double, double_value=2.0),
        )
    )
    assert [r.timestamp for r in readings] == [
        datetime.fromtimestamp((T0 - 3_600_000) / 1000, UTC),
        datetime.fromtimestamp(T0 / 1000, UTC),
    ]


def test_units_come_from_the_engineering_unit_property_and_bdseq_is_no_reading():
    session = metric("bdSeq", datatype=pb.UInt64, long_value=3)
    readings = run(payload(session, metric("t", 1, pb.Float, "Cel", float_value=2)))
    assert [(r.device, r.metric, r.unit) for r in readings] == [("edge1", "t", "Cel")]


def test_bytes_files_and_arrays_give_no_reading():
    readings = run(
        payload(
            metric("blob", datatype=pb.Bytes, bytes_value=b"\x00\x01"),
            metric("doc", datatype=pb.File, bytes_value=b"%PDF"),
            metric("arr", datatype=pb.Int32Array, bytes_value=b"\x01\x00\x00\x00"),
        )
    )
    assert readings == []


@pytest.mark.parametrize(
    ("data", "topic", "kind", "location"),
    [
        (b"\x0a\xff\xff", TOPIC, "decode", "protobuf"),  # truncated
        (b"\x12" + b"\x00" * 5, TOPIC, "decode", "protobuf"),
        (nested_templates(200), TOPIC, "decode", "protobuf"),
        (payload(metric("m", datatype=pb.Int32, string_value="x")), TOPIC, "validation", "metrics.0"),
        (payload(metric("m", datatype=pb.Double, double_value=float("nan"))), TOPIC, "validation", "metrics.0.value"),
        (payload(metric("m", datatype=pb.Double, double_value=1.0)), "spBv1.0/P/NFOO/edge1", "validation", "topic"),
        (payload(metric("m", datatype=pb.Double, double_value=1.0)), "spBv1.0/P/DDATA/edge1", "validation", "topic"),
        (payload(), "spBv1.0/Plant", "validation", "topic"),
        (
            payload(metric("m", datatype=pb.Double, double_value=1.0)).replace(b"\x01m", b"\x01\x80"),
            TOPIC,
            "validation",
            "metrics.0.name",
        ),  # fmt: skip
    ],
)
def test_broken_payloads_and_topics_fail_with_a_clear_located_error(data, topic, kind, location):
    with pytest.raises(ParseFailure) as caught:
        run(data, topic)
    assert (caught.value.kind, caught.value.location, caught.value.parser) == (kind, location, "sparkplug")


def test_the_sparkplug_namespace_is_claimed_by_the_sparkplug_parser():
    registry = get_registry()
    for topic in ("spBv1.0/Plant/NBIRTH/edge1", "spBv1.0/Plant/DDATA/edge1/pump", "spBv1.0/STATE/scada"):
        assert registry.claim_by_topic(topic).name == "sparkplug"
