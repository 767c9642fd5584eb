"""Tasmota telemetry: `tele/<device>/SENSOR` (sensor values) and `tele/<device>/STATE` (relay and Wi-Fi).

Every numeric field becomes a reading named by its JSON path (`AM2301.Temperature`, `ENERGY.Power`,
`Wifi.RSSI`); "ON"/"OFF" (`POWER`, `POWER2`, `Switch1`) become booleans; other text (`Uptime`, `SSId`) is
skipped. Units come from Tasmota's field names and its `TempUnit`/`PressureUnit`/`SpeedUnit` fields.

`Time` is the device's local time without an offset (unless `SetOption52 1` adds one); a reading only
takes it as its timestamp when an offset is present, because the device's time zone is unknown here.
Multi-phase energy meters send lists (`"Voltage": [230, 231, 229]`): each phase is `ENERGY.Voltage.0`...
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, RootModel
from typing_extensions import TypedDict  # Pydantic needs this one on Python < 3.12

from .base import Parser, Reading
from .common import FiniteFloat, flatten, is_number_or_bool, on_off, parse_timestamp

TEMPERATURE_UNITS = {"C": "°C", "F": "°F", "K": "K"}
FIXED_UNITS = {
    "Humidity": "%",
    "Illuminance": "lx",
    "Total": "kWh",
    "Yesterday": "kWh",
    "Today": "kWh",
    "Period": "Wh",
    "Power": "W",
    "ApparentPower": "VA",
    "ReactivePower": "VAr",
    "Voltage": "V",
    "Current": "A",
    "Frequency": "Hz",
    "RSSI": "%",
    "Signal": "dBm",
    "UptimeSec": "s",
    "CarbonDioxide": "ppm",
    "eCO2": "ppm",
    "TVOC": "ppb",
    "Distance": "cm",
    "Heap": "kB",
    "LoadAvg": "%",
    "Sleep": "ms",
}
TEMPERATURE_FIELDS = {"Temperature", "DewPoint"}
PRESSURE_FIELDS = {"Pressure", "SeaPressure"}
META_FIELDS = frozenset({"Time", "TempUnit", "PressureUnit", "SpeedUnit"})

Measurement = FiniteFloat | list[FiniteFloat] | None


class TasmotaEnergy(TypedDict, total=False):
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    Total: Measurement
    Yesterday: Measurement
    Today: Measurement
    Power: Measurement
    ApparentPower: Measurement
    ReactivePower: Measurement
    Factor: Measurement
    Voltage: Measurement
    Current: Measurement


class TasmotaFields(TypedDict, total=False):
    # Sensor objects vary by device, so extra fields are allowed. TypedDicts, not models: validated 2-3x
    # faster, and the parser flattens the validated dict as it is.
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    Time: datetime | None
    TempUnit: str | None
    PressureUnit: str | None
    SpeedUnit: str | None
    ENERGY: TasmotaEnergy | None


class TasmotaTelemetry(RootModel[TasmotaFields]):
    """A Tasmota SENSOR or STATE message."""


def _wanted(value: object) -> bool:
    return value.__class__ in _NUMBERS or value == "ON" or value == "OFF" or is_number_or_bool(value)


_NUMBERS = frozenset({float, int, bool})


class TasmotaParser(Parser):
    name = "tasmota"
    description = "Tasmota tele/<device>/SENSOR and tele/<device>/STATE JSON."
    payload_model = TasmotaTelemetry
    topic_filters = ("tele/+/SENSOR", "tele/+/STATE")

    def parse(self, topic: str, payload: TasmotaTelemetry) -> list[Reading]:
        levels = topic.split("/")
        device = levels[1] if len(levels) == 3 else topic  # tele/<device>/SENSOR, unless assigned by hand
        data = payload.root
        timestamp = parse_timestamp(data.get("Time"))
        temperature_unit = data.get("TempUnit") or "C"
        temperature_unit = TEMPERATURE_UNITS.get(temperature_unit, temperature_unit)
        pressure_unit = data.get("PressureUnit") or "hPa"
        readings = []
        for metric, value in flatten(data, keep=_wanted, skip_keys=META_FIELDS):
            field = _field_name(metric)
            if field in TEMPERATURE_FIELDS:
                unit = temperature_unit
            elif field in PRESSURE_FIELDS:
                unit = pressure_unit
            else:
                unit = FIXED_UNITS.get(field, "")
            readings.append(Reading(device, metric, on_off(value), unit, timestamp))
        return readings


def _field_name(path: str) -> str:
    """The last non-index level of a metric path: "ENERGY.Voltage.1" -> "Voltage"."""
    last = path.rpartition(".")[2]
    if not last.isdigit():
        return last
    for part in reversed(path.split(".")):
        if not part.isdigit():
            return part
    return path
