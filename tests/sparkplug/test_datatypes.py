"""Every Sparkplug B datatype, encoded with the official schema, becomes the reading value it means."""

from __future__ import annotations

import json
import struct
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


def test_bytes_and_files_give_no_reading():
    readings = run(
        payload(
            metric("blob", datatype=pb.Bytes, bytes_value=b"\x00\x01"),
            metric("doc", datatype=pb.File, bytes_value=b"%PDF"),
        )
    )
    assert readings == []


def packed(code: str, values: list) -> bytes:
    return struct.pack(f"<{len(values)}{code}", *values)


@pytest.mark.parametrize(
    ("datatype", "raw", "expected"),
    [  # the Sparkplug 3.0 layouts, as Eclipse Tahu's Java library writes them
        (pb.Int8Array, bytes([0xE9, 0x7B]), [-23, 123]),
        (pb.Int16Array, packed("h", [-300, 7]), [-300, 7]),
        (pb.Int32Array, packed("i", [123456789, -987654321]), [123456789, -987654321]),
        (pb.Int64Array, packed("q", [-(2**40), 5]), [-(2**40), 5]),
        (pb.UInt8Array, bytes([250, 1]), [250, 1]),
        (pb.UInt16Array, packed("H", [65000]), [65000]),
        (pb.UInt32Array, packed("I", [4_000_000_000]), [4_000_000_000]),
        (pb.UInt64Array, packed("Q", [2**63 + 1]), [2**63 + 1]),
        (pb.FloatArray, packed("f", [1.5, float("nan")]), [1.5, None]),  # no NaN in JSON
        (pb.DoubleArray, packed("d", [-0.25, 1e300]), [-0.25, 1e300]),
        (pb.BooleanArray, packed("I", [10]) + bytes([0b10100000, 0b01000000]),
         [True, False, True, False, False, False, False, False, False, True]),  # first value in the highest bit
        (pb.StringArray, "ab\x00\x00çé\x00".encode(), ["ab", "", "çé"]),
        (pb.DateTimeArray, packed("q", [T0]), [datetime.fromtimestamp(T0 / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]),
        (pb.Int32Array, b"", []),
    ],
)  # fmt: skip
def test_arrays_are_kept_as_json_lists(datatype, raw, expected):
    assert json.loads(value_of(metric("arr", datatype=datatype, bytes_value=raw))) == expected


@pytest.mark.parametrize(
    ("datatype", "raw"),
    [
        (pb.Int32Array, b"\x01\x00\x00"),  # not a whole number of values
        (pb.BooleanArray, packed("I", [20]) + b"\x00"),  # 20 booleans need 3 bytes
        (pb.BooleanArray, b"\x01"),
        (pb.StringArray, b"\xff\xfe\x00"),  # not UTF-8
    ],
)
def test_a_malformed_array_is_a_validation_error_of_its_metric(datatype, raw):
    with pytest.raises(ParseFailure) as failure:
        run(payload(metric("arr", datatype=datatype, bytes_value=raw)))
    assert failure.value.location == "metrics.0.value"


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
