"""Sparkplug B (spBv1.0): protobuf payloads decoded with Eclipse Tahu's schema (mqtt_app/sparkplug/).

Ingestion does not call `parse` for these topics: a DATA message names its metrics by the aliases of an
earlier BIRTH, so its messages are applied in order to the connection's state in the database under the
batch's lock (mqtt_app/sparkplug/state.py). `parse` is the stateless reading of one payload, for a dry run:
metrics that carry their name (BIRTH, and DATA that sends names) give readings, alias-only metrics none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mqtt_app.sparkplug.topic import STATE, SparkplugTopic, parse_topic
from mqtt_app.sparkplug.values import decode_payload, metric_readings, timestamp_of

from .base import Parser, Reading


class SparkplugMetric(BaseModel):
    """A metric as the protobuf schema carries it (documentation of the payload; decoding is protobuf's)."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    value: float | bool | str | None = None


class SparkplugPayload(BaseModel):
    """org.eclipse.tahu.protobuf.Payload, in protobuf (sparkplug_b.proto), not JSON."""

    timestamp: int | None = None
    seq: int | None = None
    metrics: list[SparkplugMetric] = []


class SparkplugParser(Parser):
    name = "sparkplug"
    description = "Sparkplug B (spBv1.0) protobuf payloads; births, aliases and node/device state per connection."
    payload_model = SparkplugPayload
    topic_filters = ("spBv1.0/#",)
    payload_format = "protobuf"
    binary = True

    def read_binary(self, topic: str, payload: bytes, received_at: datetime | None) -> Any:
        where = parse_topic(topic)
        if where.message_type == STATE:
            return where, None
        return where, decode_payload(payload)

    def parse(self, topic: str, payload: tuple[SparkplugTopic, Any]) -> list[Reading]:
        where, decoded = payload
        if decoded is None or where.message_type in ("NCMD", "DCMD", "NDEATH", "DDEATH"):
            return []
        sent_at = timestamp_of(decoded.timestamp, "timestamp") if decoded.HasField("timestamp") else None
        return metric_readings(where.source, decoded.metrics, [None] * len(decoded.metrics), sent_at, skip_bd_seq=True)
