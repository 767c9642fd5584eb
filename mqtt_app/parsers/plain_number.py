"""Plain values: the payload is just a number or a boolean, e.g. `21.5` on `home/kitchen/temperature`.

The metric is the last topic level ("temperature"), the device the level before ("kitchen"; empty for a
one-level topic). Besides JSON numbers and true/false, Pydantic's lax booleans are accepted when this
parser is assigned to a topic ("on"/"off", "yes"/"no", case-insensitive), since switches publish those;
automatic recognition only claims payloads that are a JSON number or boolean.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .base import Parser, Reading
from .common import FiniteFloat


class PlainValue(BaseModel):
    value: FiniteFloat | bool


class PlainNumberParser(Parser):
    name = "plain_number"
    description = "A payload that is just a number or a boolean; metric = last topic level."
    fallback = True
    payload_model = PlainValue
    payload_format = "text"

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return isinstance(data, int | float)  # decoded JSON: numbers and booleans

    def load(self, text: str) -> dict[str, str]:
        return {"value": text.strip()}

    def parse(self, topic: str, payload: PlainValue) -> list[Reading]:
        levels = topic.rsplit("/", 2)
        device = levels[-2] if len(levels) > 1 else ""
        return [Reading(device, levels[-1], payload.value)]
