"""Print the CPU cost of the parser registry per message: `python -m bench.parsers [iterations]`.

For each built-in parser, one typical payload goes through `registry.run()` (decode, JSON, validation,
parse, checks) and through `registry.claim()` (topic cache hit, or payload sniffing for the fallbacks).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from mqtt_app.parsers import get_registry, homie  # noqa: E402

CASES = [
    ("plain_number", "home/kitchen/temperature", b"21.5"),
    ("generic_json", "site/kitchen", b'{"temperature": 21.5, "humidity": 40.1, "ok": true}'),
    (
        "senml",
        "dev/senml",
        b'[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]',
    ),
    (
        "tasmota",
        "tele/plug/SENSOR",
        b'{"Time":"2019-01-05T22:45:12","AM2301":{"Temperature":4.7,"Humidity":93.7},"TempUnit":"C"}',
    ),
    ("zigbee2mqtt", "zigbee2mqtt/kitchen", b'{"temperature":27.34,"humidity":44.72,"linkquality":120}'),
    (
        "shelly",
        "shelly1/events/rpc",
        b'{"src":"shelly1","method":"NotifyStatus","params":{"ts":1631186545.04,'
        b'"switch:0":{"id":0,"output":true,"apower":8.9,"voltage":237.5}}}',
    ),
    ("homie", "homie/super-car/engine/temperature", b"21.5"),
]


def per_message_us(function: Callable[[], object], iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        function()
    return (time.process_time() - start) / iterations * 1e6


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    registry = get_registry()
    homie.learn("homie/super-car/engine/temperature/$datatype", "float")
    received_at = datetime.now(UTC)
    print(f"{'parser':<14}{'run µs/msg':>12}{'claim µs/msg':>14}  readings  ({iterations} iterations, CPU time)")
    for name, topic, payload in CASES:
        assert registry.claim(topic, payload).name == name, name
        count = len(registry.run(name, topic, payload, received_at))
        run_us = per_message_us(lambda: registry.run(name, topic, payload, received_at), iterations)  # noqa: B023
        claim_us = per_message_us(lambda: registry.claim(topic, payload), iterations)  # noqa: B023
        print(f"{name:<14}{run_us:>12.1f}{claim_us:>14.1f}  {count:>8}")


if __name__ == "__main__":
    main()
