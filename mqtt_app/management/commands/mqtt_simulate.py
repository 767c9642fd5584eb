"""Simulated devices publishing realistic telemetry in every built-in payload format, plus some malformed ones.

    python manage.py mqtt_simulate --devices 14 --rate 2 --duration 60

Device i speaks format FORMATS[i % 7]; each device publishes `--rate` frames a second with values that drift
like real sensors (a bounded random walk). A `--malformed` share of frames is broken on purpose (bad JSON,
wrong types, empty, not UTF-8) so the parse-error views have something to show. SIGTERM/SIGINT stop it
cleanly: the loop ends, the client disconnects, a summary is printed and the exit code is 0.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from django.core.management.base import BaseCommand, CommandError, CommandParser

Message = tuple[str, bytes, bool]  # topic, payload, retain
FORMATS = ("senml", "tasmota", "zigbee2mqtt", "shelly", "homie", "plain", "json")
# The filters that cover every topic this simulator publishes (mqtt_demo subscribes to these).
TOPIC_FILTERS = ("senml/#", "tele/#", "zigbee2mqtt/#", "+/events/rpc", "homie/#", "sensors/#", "devices/#")
# metric -> (start, low, high, step)
RANGES = {
    "temperature": (21.0, -10.0, 45.0, 0.15),
    "humidity": (45.0, 5.0, 100.0, 0.5),
    "pressure": (1013.0, 950.0, 1050.0, 0.3),
    "power": (120.0, 0.0, 3500.0, 15.0),
    "voltage": (230.0, 207.0, 253.0, 0.4),
    "current": (0.5, 0.0, 16.0, 0.05),
    "battery": (98.0, 0.0, 100.0, 0.02),
    "co2": (600.0, 380.0, 2500.0, 8.0),
}


@dataclass
class Device:
    kind: str
    name: str
    rng: random.Random
    values: dict[str, float] = field(default_factory=dict)
    energy: float = 0.0
    started: float = field(default_factory=time.time)

    def read(self, metric: str, digits: int = 2) -> float:
        start, low, high, step = RANGES[metric]
        value = self.values.get(metric, start + self.rng.uniform(-step, step) * 10)
        value = min(high, max(low, value + self.rng.gauss(0, step)))
        self.values[metric] = value
        return round(value, digits)


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def senml(d: Device, now: float) -> list[Message]:
    pack = [
        {
            "bn": f"urn:dev:mac:{d.name}:",
            "bt": round(now, 3),
            "n": "temperature",
            "u": "Cel",
            "v": d.read("temperature"),
        },
        {"n": "humidity", "u": "%RH", "v": d.read("humidity")},
        {"n": "co2", "u": "ppm", "v": d.read("co2", 0)},
    ]
    return [(f"senml/{d.name}", _json(pack), False)]


def tasmota(d: Device, now: float) -> list[Message]:
    power = d.read("power", 0)
    d.energy += power / 3_600_000
    sensor = {
        "Time": _iso(now)[:19],
        "ENERGY": {
            "Total": round(d.energy, 3),
            "Power": power,
            "Voltage": d.read("voltage", 0),
            "Current": d.read("current", 3),
            "Factor": 0.95,
        },
        "DS18B20": {"Id": "0316A2790CFF", "Temperature": d.read("temperature", 1)},
        "TempUnit": "C",
    }
    uptime = int(now - d.started)
    state = {
        "Time": _iso(now)[:19],
        "UptimeSec": uptime,
        "Heap": 25,
        "LoadAvg": 19,
        "POWER": "ON",
        "Wifi": {"AP": 1, "RSSI": d.rng.randint(60, 90), "Signal": d.rng.randint(-70, -50)},
    }
    return [(f"tele/{d.name}/SENSOR", _json(sensor), False), (f"tele/{d.name}/STATE", _json(state), False)]


def zigbee2mqtt(d: Device, now: float) -> list[Message]:
    body = {
        "temperature": d.read("temperature"),
        "humidity": d.read("humidity"),
        "battery": d.read("battery", 0),
        "linkquality": d.rng.randint(40, 255),
        "contact": d.rng.random() > 0.1,
        "voltage": 2995,
    }
    return [(f"zigbee2mqtt/{d.name}", _json(body), False)]


def shelly(d: Device, now: float) -> list[Message]:
    power = d.read("power", 1)
    d.energy += power / 3600
    frame = {
        "src": d.name,
        "dst": f"{d.name}/events",
        "method": "NotifyStatus",
        "params": {
            "ts": round(now, 2),
            "switch:0": {
                "id": 0,
                "apower": power,
                "voltage": d.read("voltage", 1),
                "current": d.read("current", 3),
                "aenergy": {"total": round(d.energy, 3)},
                "temperature": {"tC": d.read("temperature", 1)},
            },
        },
    }
    return [(f"{d.name}/events/rpc", _json(frame), False)]


def homie(d: Device, now: float) -> list[Message]:
    base = f"homie/{d.name}/climate"
    return [
        (f"{base}/temperature", str(d.read("temperature")).encode(), True),
        (f"{base}/humidity", str(d.read("humidity")).encode(), True),
    ]


def homie_attributes(d: Device) -> list[Message]:
    """Homie's retained device description, published once at start."""
    base = f"homie/{d.name}"
    attrs = {
        "$homie": "4.0",
        "$name": f"Climate {d.name}",
        "$state": "ready",
        "$nodes": "climate",
        "climate/$name": "Climate",
        "climate/$properties": "temperature,humidity",
        "climate/temperature/$datatype": "float",
        "climate/temperature/$unit": "°C",
        "climate/humidity/$datatype": "float",
        "climate/humidity/$unit": "%",
    }
    return [(f"{base}/{key}", value.encode(), True) for key, value in attrs.items()]


def plain(d: Device, now: float) -> list[Message]:
    return [
        (f"sensors/{d.name}/temperature", str(d.read("temperature")).encode(), False),
        (f"sensors/{d.name}/pressure", str(d.read("pressure", 1)).encode(), False),
    ]


def generic_json(d: Device, now: float) -> list[Message]:
    body = {
        "ts": _iso(now),
        "env": {"temperature": d.read("temperature"), "pressure": d.read("pressure", 1)},
        "co2": d.read("co2", 0),
        "door_open": d.rng.random() < 0.05,
        "fw": "1.4.2",
    }
    return [(f"devices/{d.name}/telemetry", _json(body), False)]


def malformed(d: Device, now: float) -> list[Message]:
    """One frame a device might really send when broken, on its own format's topic."""
    topic = GENERATORS[d.kind](d, now)[0][0]
    choices: dict[str, list[bytes]] = {
        "senml": [b'[{"n":"temperature","v":"warm"}]', b'[{"n":"temperature","v":21.5'],
        "tasmota": [b'{"Time":"2024-01-01T00:00:00","ENERGY":{"Power":', b""],
        "zigbee2mqtt": [b'{"temperature":21.5,"humidity":}', b'{"temperature": NaN}'],
        "shelly": [b'{"src":"","method":"NotifyStatus","params":{"switch:0":null}}'],
        "homie": [b"\xff\xfe\x00 not utf-8"],
        "plain": [b"twenty-one", b"\xff\xfe"],
        "json": [b'{"ts": "yesterday", "env": {"temperature": 21.5,', b"[1, 2"],
    }
    return [(topic, d.rng.choice(choices[d.kind]), False)]


GENERATORS: dict[str, Callable[[Device, float], list[Message]]] = {
    "senml": senml,
    "tasmota": tasmota,
    "zigbee2mqtt": zigbee2mqtt,
    "shelly": shelly,
    "homie": homie,
    "plain": plain,
    "json": generic_json,
}
DEVICE_NAMES = {
    "senml": "env-{n:02d}",
    "tasmota": "plug-{n:02d}",
    "zigbee2mqtt": "lumi-{n:02d}",
    "shelly": "shellyplus1pm-a8032ab1{n:04x}",
    "homie": "climate-{n:02d}",
    "plain": "meter-{n:02d}",
    "json": "gw-{n:02d}",
}


def make_devices(count: int, kinds: tuple[str, ...], rng: random.Random) -> list[Device]:
    return [
        Device(kinds[i % len(kinds)], DEVICE_NAMES[kinds[i % len(kinds)]].format(n=i // len(kinds) + 1), rng)
        for i in range(count)
    ]


class Command(BaseCommand):
    help = "Publish simulated telemetry in every built-in format (and some malformed payloads) to a broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1883)
        parser.add_argument("--username", default="")
        parser.add_argument("--password", default="")
        parser.add_argument("--devices", type=int, default=len(FORMATS), help="number of devices (default 7)")
        parser.add_argument("--rate", type=float, default=1.0, help="frames per second per device (default 1)")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds to run; 0 = until stopped")
        parser.add_argument("--malformed", type=float, default=0.05, help="share of broken frames (0..1)")
        parser.add_argument("--formats", default=",".join(FORMATS), help="comma list of " + ",".join(FORMATS))
        parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")

    def handle(self, *args, **options) -> None:
        kinds = self._kinds(options["formats"])
        if options["devices"] < 1 or not 0 < options["rate"] <= 1000 or not 0 <= options["malformed"] <= 1:
            raise CommandError("--devices must be >= 1, --rate in (0, 1000], --malformed in [0, 1].")
        rng = random.Random(options["seed"])  # noqa: S311 - simulated sensor noise
        devices = make_devices(options["devices"], kinds, rng)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        client = self._connect(options)
        try:
            for device in devices:
                if device.kind == "homie":
                    self._publish(client, homie_attributes(device))
            sent, broken, elapsed = self._run(client, devices, options, rng, stop)
        finally:
            client.loop_stop()
            client.disconnect()
        self.stdout.write(
            f"published {sent} messages ({broken} malformed) from {len(devices)} devices in {elapsed:.1f} s"
        )

    def _kinds(self, raw: str) -> tuple[str, ...]:
        kinds = tuple(k.strip() for k in raw.split(",") if k.strip())
        unknown = set(kinds) - set(FORMATS)
        if unknown or not kinds:
            raise CommandError(f"unknown formats {sorted(unknown)}; choose from {', '.join(FORMATS)}.")
        return kinds

    def _connect(self, options: dict) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"mqttmon-simulator-{random.randrange(1 << 30)}"
        )
        if options["username"]:
            client.username_pw_set(options["username"], options["password"] or None)
        try:
            client.connect(options["host"], options["port"], keepalive=30)
        except OSError as exc:
            raise CommandError(f"cannot reach the broker at {options['host']}:{options['port']}: {exc}") from exc
        client.loop_start()
        return client

    def _publish(self, client: mqtt.Client, messages: list[Message]) -> int:
        for topic, payload, retain in messages:
            client.publish(topic, payload, qos=1, retain=retain)
        return len(messages)

    def _run(
        self, client: mqtt.Client, devices: list[Device], options: dict, rng: random.Random, stop: threading.Event
    ) -> tuple[int, int, float]:
        started = time.monotonic()
        deadline = started + options["duration"] if options["duration"] > 0 else None
        period = 1.0 / options["rate"]
        sent = broken = 0
        tick = started
        while not stop.is_set() and (deadline is None or tick < deadline):
            now = time.time()
            for device in devices:
                bad = rng.random() < options["malformed"]
                sent += self._publish(client, (malformed if bad else GENERATORS[device.kind])(device, now))
                broken += bad
            tick += period
            stop.wait(max(0.0, tick - time.monotonic()))  # pace the frames; wakes at once on SIGTERM
        return sent, broken, time.monotonic() - started
