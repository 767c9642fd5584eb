"""Homie 4 properties: `homie/<device>/<node>/<property>`, payload a UTF-8 string per the convention.

Payload rules (Homie 4.0 "Payload"): integer "21", float "21.5" (dot as decimal separator), boolean exactly
"true"/"false", string/enum/color/datetime/duration as text. An empty payload is only a valid string.

How `$datatype` and `$unit` are learned, and their limits: they arrive on their own retained topics
(`homie/<device>/<node>/<property>/$datatype` → "float", `.../$unit` → "°C"), usually once, at subscribe
time, before the values. This parser claims those two attribute topics too: running it on one records the
value in a bounded in-process table (`learn`) and yields no reading. Values then validate against the
learned datatype (so "abc" on a float property is a validation error) and carry the learned unit.
The table is per process: a worker process that never saw the retained attribute (another prefork child,
or a restart after the broker delivered it) falls back to inference from the payload itself (integer or
float text → number, "true"/"false" → boolean, anything else → text) and an empty unit. The parser
contract (one payload and its topic) cannot carry sibling topics; the ingest worker can seed the table from
the attribute topics' stored last payloads by calling `learn(topic, payload_text)`.
All other `$` attribute topics (`$name`, `$state`, `$properties`, `.../set`) are not claimed.
Learned attributes belong to one connection: the same topic on two sites' brokers is two properties, so one
site's device cannot change how another site's values are parsed. The ingest worker says which connection it
parses for with `on_connection(connection_id)`; outside one, the attributes share an anonymous scope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

from .base import Parser, Reading

ATTRIBUTES = ("$datatype", "$unit")
DATATYPES = frozenset({"integer", "float", "boolean", "string", "enum", "color", "datetime", "duration"})
MAX_LEARNED = 50_000  # properties remembered per process; the table is cleared when it fills
INTEGER = re.compile(r"-?\d+\Z")
FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z")

# (connection id or None, property topic) -> {"datatype": ..., "unit": ...}
_learned: dict[tuple[int | None, str], dict[str, str]] = {}
_connection: ContextVar[int | None] = ContextVar("homie_connection", default=None)


@contextmanager
def on_connection(connection_id: int | None) -> Iterator[None]:
    """Parse for this connection: attributes learned and used inside belong to it alone."""
    token = _connection.set(connection_id)
    try:
        yield
    finally:
        _connection.reset(token)


def _attributes(topic: str) -> dict[str, str]:
    return _learned.get((_connection.get(), topic), {})


def learn(topic: str, value: str) -> bool:
    """Record a `.../$datatype` or `.../$unit` attribute of the current connection; False when `topic` is not
    one of them."""
    prop, _, attribute = topic.rpartition("/")
    if attribute not in ATTRIBUTES or not prop:
        return False
    key = (_connection.get(), prop)
    if len(_learned) >= MAX_LEARNED and key not in _learned:
        _learned.clear()  # a bounded table beats an unbounded one; values then fall back to inference
    _learned.setdefault(key, {})[attribute[1:]] = value.strip()
    return True


def forget_all() -> None:
    """For tests."""
    _learned.clear()


class HomieValue(BaseModel):
    """A property value (or a $datatype/$unit attribute), as the text the device published."""

    value: str

    @field_validator("value")
    @classmethod
    def _matches_datatype(cls, value: str, info: ValidationInfo) -> str:
        topic = (info.context or {}).get("topic") or ""
        if topic.endswith(ATTRIBUTES):
            if topic.endswith("$datatype") and value not in DATATYPES:
                raise ValueError(f"unknown Homie datatype {value!r}")
            return value
        datatype = _attributes(topic).get("datatype")
        if datatype == "integer" and not INTEGER.match(value):
            raise ValueError("an integer property needs a payload like '21'")
        if datatype == "float" and not (FLOAT.match(value) and math.isfinite(float(value))):
            raise ValueError("a float property needs a payload like '21.5'")
        if datatype == "boolean" and value not in ("true", "false"):
            raise ValueError("a boolean property needs 'true' or 'false'")
        if value == "" and datatype not in ("string", None):
            raise ValueError(f"an empty payload is only valid for a string property, not {datatype}")
        return value


class HomieParser(Parser):
    name = "homie"
    description = "Homie 4 property values on homie/<device>/<node>/<property> (+ their $datatype/$unit)."
    payload_model = HomieValue
    topic_filters = ("homie/+/+/+", "homie/+/+/+/$datatype", "homie/+/+/+/$unit")
    payload_format = "text"

    @classmethod
    def accepts_topic(cls, topic: str) -> bool:
        levels = topic.split("/")
        if any(level.startswith("$") for level in levels[1:4]):
            return False  # device and node attributes ($state, $properties...) are not values
        return len(levels) == 4 or levels[4] in ATTRIBUTES

    def load(self, text: str) -> dict[str, str]:
        return {"value": text}

    def parse(self, topic: str, payload: HomieValue) -> list[Reading]:
        if learn(topic, payload.value):
            return []
        levels = topic.split("/")
        # homie/<device>/<node>/<property>; a topic assigned by hand may be shaped otherwise.
        device, metric = (levels[1], ".".join(levels[2:])) if len(levels) >= 4 else ("", topic)
        attributes = _attributes(topic)
        value = _convert(payload.value, attributes.get("datatype"))
        return [Reading(device, metric, value, attributes.get("unit", ""))]


def _convert(text: str, datatype: str | None) -> Any:
    if datatype in (None, "integer", "float"):
        if INTEGER.match(text) or FLOAT.match(text):
            number = float(text)
            if math.isfinite(number):
                return number
    if datatype in (None, "boolean") and text in ("true", "false"):
        return text == "true"
    return text
