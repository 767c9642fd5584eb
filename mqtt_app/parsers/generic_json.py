"""Generic JSON: any JSON object; every numeric and boolean field becomes a reading named by its path.

`{"env": {"temp": 21.5, "ok": true}, "rssi": -60}` on `site/kitchen` gives device "kitchen" and the
metrics `env.temp`, `env.ok` and `rssi`. List items are numbered (`values.0`). Text fields are skipped
(they are rarely measurements). Fields deeper than common.MAX_FLATTEN_DEPTH levels are ignored; more than
common.MAX_FIELDS values fail validation ("too_many_fields") rather than silently storing a prefix.

A top-level "timestamp", "time" or "ts" that reads as a device time (epoch s/ms, ISO 8601 with offset) is
used as the readings' timestamp instead of being stored as a metric.
"""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from .base import Parser, Reading
from .common import flatten, parse_timestamp

TIME_KEYS = ("timestamp", "time", "ts")


class JsonObject(RootModel[dict[str, Any]]):
    """Any JSON object."""


class GenericJsonParser(Parser):
    name = "generic_json"
    description = "Any JSON object: numeric and boolean fields, flattened into a.b.c metric names."
    fallback = True
    payload_model = JsonObject

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return isinstance(data, dict)

    def parse(self, topic: str, payload: JsonObject) -> list[Reading]:
        data = payload.root
        device = topic.rsplit("/", 1)[-1]
        timestamp = None
        skip: frozenset[str] = frozenset()
        for key in TIME_KEYS:
            if key in data:
                timestamp = parse_timestamp(data[key])
                if timestamp is not None:
                    skip = frozenset((key,))
                break
        return [Reading(device, metric, value, "", timestamp) for metric, value in flatten(data, skip_keys=skip)]
