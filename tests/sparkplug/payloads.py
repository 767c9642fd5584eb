"""Sparkplug B payloads encoded with the official schema (Eclipse Tahu's sparkplug_b.proto, as generated)."""

from __future__ import annotations

from typing import Any

from mqtt_app.sparkplug import sparkplug_b_pb2 as pb

T0 = 1_700_000_000_000  # ms: the edge node's clock at its birth


def metric(
    name: str | None = None,
    alias: int | None = None,
    datatype: int | None = None,
    unit: str | None = None,
    timestamp: int | None = None,
    **fields: Any,
) -> Any:
    """A Payload.Metric: `fields` are the value field (int_value=..., string_value=...) and flags."""
    m = pb.Payload.Metric()
    if name is not None:
        m.name = name
    if alias is not None:
        m.alias = alias
    if datatype is not None:
        m.datatype = datatype
    if timestamp is not None:
        m.timestamp = timestamp
    if unit is not None:
        m.properties.keys.append("engUnit")
        m.properties.values.add(type=pb.String, string_value=unit)
    for key, value in fields.items():
        if key in ("dataset_value", "template_value"):
            getattr(m, key).CopyFrom(value)
        else:
            setattr(m, key, value)
    return m


def payload(*metrics: Any, seq: int | None = None, timestamp: int | None = T0) -> bytes:
    p = pb.Payload()
    if timestamp is not None:
        p.timestamp = timestamp
    if seq is not None:
        p.seq = seq
    p.metrics.extend(metrics)
    return p.SerializeToString()


def bd_seq(value: int) -> Any:
    return metric("bdSeq", datatype=pb.UInt64, long_value=value)


def nbirth(bd: int, *metrics: Any, seq: int = 0) -> bytes:
    rebirth = metric("Node Control/Rebirth", datatype=pb.Boolean, boolean_value=False)
    return payload(bd_seq(bd), rebirth, *metrics, seq=seq)


def ndeath(bd: int) -> bytes:
    return payload(bd_seq(bd), timestamp=None)


# A boiler edge node and its pump, as an NBIRTH and a DBIRTH define them: names, aliases, datatypes, units.
NODE_METRICS = [
    metric("Supply/Temperature", alias=1, datatype=pb.Float, unit="Cel", float_value=61.5),
    metric("Supply/Pressure", alias=2, datatype=pb.Double, unit="bar", double_value=1.75),
]
PUMP_METRICS = [
    metric("Speed", alias=10, datatype=pb.Int32, unit="rpm", int_value=1450),
    metric("Running", alias=11, datatype=pb.Boolean, boolean_value=True),
    metric("Mode", alias=12, datatype=pb.String, string_value="auto"),
]
