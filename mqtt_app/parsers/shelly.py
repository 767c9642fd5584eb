"""Shelly Gen2+ RPC notifications: `<device id>/events/rpc`, methods NotifyStatus and NotifyFullStatus.

`params` holds `ts` (UTC epoch seconds, used as the timestamp) and one object per component, keyed by the
component name (`switch:0`, `cloud`, `wifi`). Each numeric or boolean field of a component becomes a
reading `<component>.<field path>` (`switch:0.apower`, `switch:0.aenergy.total`, `switch:0.output`);
lists (`aenergy.by_minute`), text and the `id` echo are skipped. The device is the frame's `src`.
Other methods (NotifyEvent) are valid frames that carry no readings. A component that is not an object
(or null, which NotifyStatus uses for keys that disappeared) is a validation failure at `params.<name>`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # Pydantic needs this one on Python < 3.12

from .base import ParseFailure, Parser, Reading
from .common import FiniteFloat, epoch_to_datetime, flatten

STATUS_METHODS = frozenset({"NotifyStatus", "NotifyFullStatus"})
UNITS = {
    "apower": "W",
    "act_power": "W",
    "aprt_power": "VA",
    "voltage": "V",
    "current": "A",
    "freq": "Hz",
    "total": "Wh",
    "total_act_energy": "Wh",
    "total_act_ret_energy": "Wh",
    "tC": "°C",
    "tF": "°F",
    "rh": "%",
    "percent": "%",
    "rssi": "dBm",
    "uptime": "s",
    "ram_free": "B",
    "fs_free": "B",
}
SUFFIX_UNITS = (("_act_power", "W"), ("_aprt_power", "VA"), ("_voltage", "V"), ("_current", "A"), ("_freq", "Hz"))
SKIP_FIELDS = frozenset({"id"})


class ShellyParams(TypedDict, total=False):
    # One status object per component ("switch:0"), so extra fields are allowed. A TypedDict, not a
    # model: validated faster, and the parser reads the validated dict as it is.
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    ts: FiniteFloat | None


class ShellyNotification(BaseModel):
    """A JSON-RPC notification frame from a Shelly Gen2+ device."""

    src: str = Field(min_length=1)
    dst: str | None = None
    method: str = Field(min_length=1)
    params: ShellyParams | None = None


class ShellyParser(Parser):
    name = "shelly"
    description = "Shelly Gen2+ <id>/events/rpc NotifyStatus and NotifyFullStatus notifications."
    payload_model = ShellyNotification
    topic_filters = ("+/events/rpc",)

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return (
            isinstance(data, dict)
            and data.get("method") in STATUS_METHODS
            and isinstance(data.get("src"), str)
            and isinstance(data.get("params"), dict)
        )

    def parse(self, topic: str, payload: ShellyNotification) -> list[Reading]:
        if payload.method not in STATUS_METHODS or payload.params is None:
            return []
        ts = payload.params.get("ts")
        timestamp = epoch_to_datetime(ts) if ts is not None else None
        readings = []
        for component, status in payload.params.items():
            if component == "ts":
                continue
            if not isinstance(status, dict):
                raise ParseFailure.invalid(f"params.{component}", "a component status must be an object", "dict_type")
            for path, value in flatten(status, prefix="", lists=False, skip_keys=SKIP_FIELDS):
                readings.append(Reading(payload.src, f"{component}.{path}", value, _unit(path), timestamp))
        return readings


def _unit(path: str) -> str:
    field = path.rsplit(".", 1)[-1]
    unit = UNITS.get(field)
    if unit is not None:
        return unit
    for suffix, suffix_unit in SUFFIX_UNITS:
        if field.endswith(suffix):
            return suffix_unit
    return ""
