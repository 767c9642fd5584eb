"""Zigbee2MQTT device state: `zigbee2mqtt/<friendly name>`, one JSON object per device.

Friendly names may contain "/" (`zigbee2mqtt/kitchen/floor_light`), so the filter is `zigbee2mqtt/#` and
`accepts_topic` refuses what is not device state: the bridge's own topics (`zigbee2mqtt/bridge/...`) and
the command and availability topics (`.../set`, `.../get`, `.../availability`).

Numbers and booleans become readings (nested ones by path: `color.x`); top-level text becomes a text
reading ("ON"/"OFF" become booleans: `state`, `state_left`), e.g. `{"action": "single"}`. Units come from
Zigbee2MQTT's exposes naming. `last_seen` (when enabled in Zigbee2MQTT) is used as the timestamp.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .base import Parser, Reading
from .common import FiniteFloat, flatten, on_off, parse_timestamp

BASE_TOPIC = "zigbee2mqtt/"
NOT_STATE = frozenset({"set", "get", "availability"})
UNITS = {
    "temperature": "°C",
    "local_temperature": "°C",
    "device_temperature": "°C",
    "humidity": "%",
    "soil_moisture": "%",
    "pressure": "hPa",
    "battery": "%",
    "voltage": "mV",
    "linkquality": "lqi",
    "illuminance": "lx",
    "illuminance_lux": "lx",
    "power": "W",
    "energy": "kWh",
    "current": "A",
    "co2": "ppm",
    "voc": "ppb",
    "pm25": "µg/m³",
    "color_temp": "mired",
}


class Zigbee2MqttState(BaseModel):
    """A device's state; the fields vary by device ("exposes"), so extra fields are allowed."""

    model_config = ConfigDict(extra="allow")

    temperature: FiniteFloat | None = None
    humidity: FiniteFloat | None = None
    pressure: FiniteFloat | None = None
    battery: FiniteFloat | None = Field(default=None, ge=0, le=100)
    voltage: FiniteFloat | None = None
    linkquality: int | None = Field(default=None, ge=0, le=255)
    illuminance: FiniteFloat | None = None
    power: FiniteFloat | None = None
    energy: FiniteFloat | None = None
    state: str | None = None
    last_seen: datetime | None = None


def _wanted(value: Any) -> bool:
    return isinstance(value, int | float | str)


class Zigbee2MqttParser(Parser):
    name = "zigbee2mqtt"
    description = "Zigbee2MQTT device state on zigbee2mqtt/<friendly name> (bridge, /set, /get ignored)."
    payload_model = Zigbee2MqttState
    topic_filters = ("zigbee2mqtt/#",)

    @classmethod
    def accepts_topic(cls, topic: str) -> bool:
        if not topic.startswith(BASE_TOPIC) or len(topic) == len(BASE_TOPIC):
            return False
        name = topic[len(BASE_TOPIC) :]
        return not (name == "bridge" or name.startswith("bridge/") or name.rsplit("/", 1)[-1] in NOT_STATE)

    def parse(self, topic: str, payload: Zigbee2MqttState) -> list[Reading]:
        device = topic[len(BASE_TOPIC) :] if topic.startswith(BASE_TOPIC) else topic
        timestamp = parse_timestamp(payload.last_seen)
        data = payload.model_dump(exclude_none=True, exclude={"last_seen"})
        readings = []
        for metric, value in flatten(data, keep=_wanted):
            if isinstance(value, str) and "." in metric:
                continue  # nested text is configuration or metadata, not a measurement
            readings.append(Reading(device, metric, on_off(value), UNITS.get(metric, ""), timestamp))
        return readings
