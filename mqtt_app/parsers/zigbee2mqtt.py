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
from typing import Annotated, Any

from pydantic import ConfigDict, Field, RootModel
from typing_extensions import TypedDict  # Pydantic needs this one on Python < 3.12

from .base import Parser, Reading
from .common import FiniteFloat, flatten, on_off, parse_timestamp

BASE_TOPIC = "zigbee2mqtt/"
NOT_STATE = frozenset({"set", "get", "availability"})
SKIP_KEYS = frozenset({"last_seen"})  # the reading time, not a reading
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


class Zigbee2MqttFields(TypedDict, total=False):
    # The fields vary by device ("exposes"), so extra fields are allowed. A TypedDict, not a model:
    # validated 2-3x faster, and the parser flattens the validated dict as it is.
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    temperature: FiniteFloat | None
    humidity: FiniteFloat | None
    pressure: FiniteFloat | None
    battery: Annotated[FiniteFloat | None, Field(ge=0, le=100)]
    voltage: FiniteFloat | None
    linkquality: Annotated[int | None, Field(ge=0, le=255)]
    illuminance: FiniteFloat | None
    power: FiniteFloat | None
    energy: FiniteFloat | None
    state: str | None
    last_seen: datetime | None


class Zigbee2MqttState(RootModel[Zigbee2MqttFields]):
    """A device's state."""


def _wanted(value: Any) -> bool:
    return value.__class__ in _LEAVES or isinstance(value, int | float | str)


_LEAVES = frozenset({float, int, bool, str})


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
        data = payload.root
        timestamp = parse_timestamp(data.get("last_seen"))
        readings = []
        for metric, value in flatten(data, keep=_wanted, skip_keys=SKIP_KEYS):
            if isinstance(value, str) and "." in metric:
                continue  # nested text is configuration or metadata, not a measurement
            readings.append(Reading(device, metric, on_off(value), UNITS.get(metric, ""), timestamp))
        return readings
