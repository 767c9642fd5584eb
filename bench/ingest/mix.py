"""A realistic mix of the built-in payload conventions, each message carrying a unique sequence number.

The sequence number is published as one numeric field that the format's parser turns into exactly one
reading, with the value SEQ_BASE + seq: the benchmark finds every stored message by that value (lost or
duplicated), whatever metric name the format gives it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

SEQ_BASE = 1_000_000_000
DEVICES = 20  # per format: 7 formats x 20 devices = 140 topics (plus Homie's three properties)
PROBE_TOPIC = "bench/probe/seq"  # plain number; the latency probe (its value is the probe's own number)


def _senml(d: int, s: int) -> tuple[str, bytes]:
    pack = [
        {"bn": f"urn:dev:mac:{d:012x}:", "bt": 1.7e9, "n": "temp", "u": "Cel", "v": 21.5},
        {"n": "hum", "u": "%RH", "v": 40},
        {"n": "seq", "v": SEQ_BASE + s},
    ]
    return f"senml/dev{d}", json.dumps(pack).encode()


def _tasmota(d: int, s: int) -> tuple[str, bytes]:
    body = {
        "Time": "2026-11-26T10:00:00",
        "ENERGY": {"Total": 12.3, "Power": 42, "Voltage": 230, "Current": 0.18},
        "Seq": SEQ_BASE + s,
    }
    return f"tele/plug{d}/SENSOR", json.dumps(body).encode()


def _zigbee(d: int, s: int) -> tuple[str, bytes]:
    body = {"temperature": 19.8, "humidity": 55.1, "battery": 97, "linkquality": 120, "seq": SEQ_BASE + s}
    return f"zigbee2mqtt/sensor{d}", json.dumps(body).encode()


def _shelly(d: int, s: int) -> tuple[str, bytes]:
    body = {
        "src": f"shellyplus1pm-{d:06x}",
        "dst": f"shellyplus1pm-{d:06x}/events",
        "method": "NotifyStatus",
        "params": {
            "ts": 1.7e9,
            "switch:0": {"id": 0, "apower": 8.5, "voltage": 229.9, "temperature": {"tC": 41.2}, "seq": SEQ_BASE + s},
        },
    }
    return f"shellyplus1pm-{d:06x}/events/rpc", json.dumps(body).encode()


def _homie(d: int, s: int) -> tuple[str, bytes]:
    return f"homie/dev{d}/meter/seq", str(SEQ_BASE + s).encode()


def _plain(d: int, s: int) -> tuple[str, bytes]:
    return f"plain/room{d}/seq", str(SEQ_BASE + s).encode()


def _generic(d: int, s: int) -> tuple[str, bytes]:
    body = {"env": {"temp": 22.1, "co2": 612}, "ok": True, "seq": SEQ_BASE + s}
    return f"site/generic{d}", json.dumps(body).encode()


FORMATS: dict[str, Callable[[int, int], tuple[str, bytes]]] = {
    "senml": _senml,
    "tasmota": _tasmota,
    "zigbee2mqtt": _zigbee,
    "shelly": _shelly,
    "homie": _homie,
    "plain_number": _plain,
    "generic_json": _generic,
}


def message(seq: int, formats: list[str] | None = None) -> tuple[str, bytes]:
    """The seq-th message of the mix: formats in turn, devices in turn."""
    names = formats or list(FORMATS)
    name = names[seq % len(names)]
    return FORMATS[name]((seq // len(names)) % DEVICES, seq)


def check_formats() -> dict[str, str]:
    """Per format: "" when its parser yields exactly one sequence reading, else why not (it is left out)."""
    from datetime import UTC, datetime

    from mqtt_app.parsers import ParseFailure, get_registry

    registry, problems = get_registry(), {}
    for name, build in FORMATS.items():
        topic, payload = build(1, 7)
        parser = registry.claim(topic, payload)
        try:
            readings = registry.run(parser.name, topic, payload, datetime.now(UTC)) if parser else []
        except ParseFailure as exc:
            problems[name] = str(exc)
            continue
        seq = [r for r in readings if r.value == SEQ_BASE + 7]
        problems[name] = "" if len(seq) == 1 else f"{len(seq)} sequence readings (parser {parser and parser.name})"
    return problems
