"""Sparkplug B payloads decoded with Eclipse Tahu's schema, and metric values turned into reading values.

Scalars become numbers, booleans or text (DateTime: ISO 8601 text in UTC; UUID, String, Text: text). DataSet
and Template values, and the array types (Sparkplug 3.0: little-endian values packed in `bytes_value`), are kept
as JSON text. Bytes, File and PropertySet(List) give no reading (docs/sparkplug.md).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from mqtt_app.parsers.base import DECODE, ParseFailure, Reading

from . import sparkplug_b_pb2

pb: Any = sparkplug_b_pb2  # generated code: typed Any (pyproject.toml)

Payload = pb.Payload
Metric = pb.Payload.Metric

# Signed integers travel as unsigned two's complement (uint32 or uint64): width of each signed type.
SIGNED_BITS = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
UNSIGNED = frozenset({pb.UInt8, pb.UInt16, pb.UInt32, pb.UInt64})
FLOATS = frozenset({pb.Float, pb.Double})
TEXTS = frozenset({pb.String, pb.Text, pb.UUID})
NOT_STORED = frozenset({pb.Bytes, pb.File, pb.PropertySet, pb.PropertySetList})
# struct formats of the packed array types; BooleanArray and StringArray have layouts of their own (`_array`).
ARRAY_FORMATS = {
    pb.Int8Array: "b", pb.Int16Array: "h", pb.Int32Array: "i", pb.Int64Array: "q", pb.UInt8Array: "B",
    pb.UInt16Array: "H", pb.UInt32Array: "I", pb.UInt64Array: "Q", pb.FloatArray: "f", pb.DoubleArray: "d",
    pb.DateTimeArray: "q",
}  # fmt: skip
ARRAYS = frozenset({*ARRAY_FORMATS, pb.BooleanArray, pb.StringArray})
INFERRED = {
    "int_value": pb.UInt32,
    "long_value": pb.UInt64,
    "float_value": pb.Float,
    "double_value": pb.Double,
    "boolean_value": pb.Boolean,
    "string_value": pb.String,
    "bytes_value": pb.Bytes,
    "dataset_value": pb.DataSet,
    "template_value": pb.Template,
}
BD_SEQ = "bdSeq"  # the NBIRTH/NDEATH metric of the session number: state, not telemetry
UNIT_KEYS = frozenset({"engunit", "engunits", "engineering units", "unit", "units"})
SKIP = object()  # a metric that gives no reading (transient, or of a type not stored)


@dataclass(slots=True)
class MetricDef:
    """A metric as a BIRTH certificate names it."""

    name: str
    alias: int | None
    datatype: int
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "alias": self.alias, "datatype": self.datatype, "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricDef:
        return cls(str(data["name"]), data.get("alias"), int(data.get("datatype") or 0), str(data.get("unit") or ""))


def decode_payload(data: bytes) -> Any:  # a pb.Payload
    """The payload, or a ParseFailure of kind "decode" at "protobuf" (one error group however it breaks)."""
    payload = Payload()
    try:
        payload.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ParseFailure(DECODE, f"not a Sparkplug B payload: {str(exc)[:200]}", location="protobuf") from None
    return payload


def metric_def(metric: Any, index: int) -> MetricDef:
    """A BIRTH metric's definition: it must have a name."""
    if not metric.name:
        raise ParseFailure.invalid(f"metrics.{index}.name", "a BIRTH metric needs a name", "sparkplug_birth")
    alias = metric.alias if metric.HasField("alias") else None
    return MetricDef(text_of(metric.name, f"metrics.{index}.name"), alias, metric.datatype, unit_of(metric))


def unit_of(metric: Any) -> str:
    """The engineering unit from the metric's properties ("engUnit" and its spellings), else ""."""
    if not metric.HasField("properties"):
        return ""
    for key, value in zip(metric.properties.keys, metric.properties.values, strict=False):
        if key.__class__ is str and key.lower() in UNIT_KEYS and value.WhichOneof("value") == "string_value":
            return text_of(value.string_value, "properties.unit")[:32]
    return ""


def metric_value(metric: Any, datatype: int, index: int) -> Any:
    """The reading value of one metric: float, bool, str or None (is_null), or SKIP."""
    if metric.is_transient:
        return SKIP
    field = metric.WhichOneof("value")
    if datatype == pb.Unknown:  # DATA by name before any BIRTH may say no datatype: the value field does
        datatype = INFERRED.get(field or "", datatype)
    if datatype in NOT_STORED:
        return SKIP
    if metric.is_null:
        return None
    if field is None:
        return SKIP  # a metric without a value (a BIRTH may name one it has no value for yet)
    raw = getattr(metric, field)
    if datatype in SIGNED_BITS and field in ("int_value", "long_value"):
        return float(_signed(raw, SIGNED_BITS[datatype]))
    if datatype in UNSIGNED and field in ("int_value", "long_value"):
        return float(raw)
    if datatype in FLOATS and field in ("float_value", "double_value"):
        return _finite(float(raw), index)
    if datatype == pb.Boolean and field == "boolean_value":
        return bool(raw)
    if datatype in TEXTS and field == "string_value":
        return text_of(raw, f"metrics.{index}.value")
    if datatype == pb.DateTime and field == "long_value":
        return _datetime_text(raw, index)
    if datatype == pb.DataSet and field == "dataset_value":
        return _json(lambda: _dataset(raw), index)
    if datatype == pb.Template and field == "template_value":
        return _json(lambda: MessageToDict(raw, preserving_proto_field_name=True), index)
    if datatype in ARRAYS and field == "bytes_value":
        return _json(lambda: _array(datatype, bytes(raw), index), index)
    name = pb.DataType.Name(datatype) if datatype in pb.DataType.values() else str(datatype)
    raise ParseFailure.invalid(
        f"metrics.{index}", f"datatype {name} does not match its value field {field}", "sparkplug_datatype"
    )


def timestamp_of(milliseconds: int, loc: str) -> datetime:
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ParseFailure.invalid(loc, f"timestamp {milliseconds} ms is out of range", "sparkplug_time") from None


def text_of(value: Any, loc: str) -> str:
    """A protobuf string field: proto2 does not check UTF-8, so invalid bytes arrive as bytes."""
    if value.__class__ is str:
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ParseFailure.invalid(loc, "text that is not UTF-8", "sparkplug_text") from None


def _json(build: Callable[[], Any], index: int) -> str:
    """DataSet and Template values as JSON text; one that cannot be (text not UTF-8) is a validation error."""
    try:
        return json.dumps(build(), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        raise ParseFailure.invalid(
            f"metrics.{index}.value", "a value that cannot be kept as JSON", "sparkplug_json"
        ) from None


def _array(datatype: int, raw: bytes, index: int) -> list[Any]:
    """A packed array's values, as Eclipse Tahu's Java library (Ignition's) writes them: numbers little-endian
    (non-finite floats as null), DateTimeArray as ISO 8601 text, StringArray as NUL-terminated UTF-8 strings,
    BooleanArray as a little-endian uint32 count and then the bits, the first value in the highest bit."""
    loc = f"metrics.{index}.value"
    if datatype == pb.StringArray:
        return [text_of(part, loc) for part in raw.split(b"\x00")[:-1]] if raw else []
    if datatype == pb.BooleanArray:
        if len(raw) < 4 or len(raw) < 4 + ((count := struct.unpack_from("<I", raw)[0]) + 7) // 8:
            raise ParseFailure.invalid(loc, "a BooleanArray shorter than its count", "sparkplug_array")
        return [bool(raw[4 + i // 8] & (0x80 >> (i % 8))) for i in range(count)]
    code = ARRAY_FORMATS[datatype]
    size = struct.calcsize(code)
    if len(raw) % size:
        raise ParseFailure.invalid(
            loc, f"{len(raw)} bytes are no whole number of {size}-byte values", "sparkplug_array"
        )
    values = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    if datatype == pb.DateTimeArray:
        return [_datetime_text(value, index) for value in values]
    return [value if value - value == 0 else None for value in values]


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _finite(value: float, index: int) -> float:
    if value - value != 0.0:  # NaN or ±inf: a reading is a finite number
        raise ParseFailure.invalid(f"metrics.{index}.value", "value is not a finite number", "finite_number")
    return value


def _datetime_text(milliseconds: int, index: int) -> str:
    return timestamp_of(milliseconds, f"metrics.{index}.value").isoformat().replace("+00:00", "Z")


def _dataset(dataset: Any) -> dict[str, Any]:
    rows = [[_element(value) for value in row.elements] for row in dataset.rows]
    return {"columns": list(dataset.columns), "types": list(dataset.types), "rows": rows}


def _element(value: Any) -> Any:
    field = value.WhichOneof("value")
    if field is None or field == "extension_value":
        return None
    raw = getattr(value, field)
    return raw if field != "float_value" and field != "double_value" or raw - raw == 0.0 else None


def metric_readings(
    source: str,
    metrics: Any,
    defs: Sequence[MetricDef | None],
    sent_at: datetime | None,
    *,
    skip_bd_seq: bool = False,
) -> list[Reading]:
    """One reading a stored metric: named as in the BIRTH, valued by its datatype, at its own time."""
    readings = []
    for index, (metric, found) in enumerate(zip(metrics, defs, strict=True)):
        name = found.name if found is not None else text_of(metric.name, f"metrics.{index}.name")
        if not name or (skip_bd_seq and name == BD_SEQ):
            continue  # unresolved (counted by the caller), or the session number, state not telemetry
        datatype = metric.datatype or (found.datatype if found is not None else 0)
        value = metric_value(metric, datatype, index)
        if value is SKIP:
            continue
        unit = found.unit if found is not None else unit_of(metric)
        at = timestamp_of(metric.timestamp, f"metrics.{index}.timestamp") if metric.HasField("timestamp") else sent_at
        readings.append(Reading(source, name, value, unit, at))
    return readings
