"""Project parsers used by the registry tests (loaded by dotted path or entry point)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mqtt_app.parsers import Parser, Reading


class Meter(BaseModel):
    kwh: float


class MeterParser(Parser):
    name = "acme_meter"
    description = "ACME meters."
    payload_model = Meter
    topic_filters = ("tele/+/SENSOR", "acme/#")

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return isinstance(data, dict) and set(data) == {"kwh"}

    def parse(self, topic: str, payload: Meter) -> list[Reading]:
        return [Reading(topic, "kwh", payload.kwh, "kWh")]


class ExactPlugParser(MeterParser):
    name = "acme_plug"
    topic_filters = ("tele/plug/SENSOR",)


class BroadTeleParser(MeterParser):
    name = "acme_tele"
    topic_filters = ("tele/#",)


class ImpostorParser(MeterParser):
    name = "tasmota"  # clashes with the built-in


class CrashingParser(MeterParser):
    name = "crashing"
    topic_filters = ("crash/#",)

    def parse(self, topic: str, payload: Meter) -> list[Reading]:
        raise ZeroDivisionError("the parser's own bug")


class WrongReturnParser(MeterParser):
    name = "wrong_return"
    topic_filters = ()

    def parse(self, topic: str, payload: Meter) -> Any:
        return {"kwh": payload.kwh}


class NonTextNameParser(MeterParser):
    name = "non_text_name"

    def parse(self, topic: str, payload: Meter) -> list[Reading]:
        return [Reading(device=["a", "list"], metric="kwh", value=payload.kwh)]  # type: ignore[arg-type]


class NotAParser:
    name = "nope"


class BadFilterParser(MeterParser):
    name = "bad_filter"
    topic_filters = ("tele/#/SENSOR",)
