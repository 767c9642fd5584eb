"""mqtt_simulate publishes every built-in format (and some broken frames) to a broker, and stops on SIGTERM."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest

from tests.helpers import Process, manage_py, wait_for

pytestmark = pytest.mark.slow  # real simulator processes and a private broker

EXPECTED_PARSER = {
    "senml/": "senml",
    "tele/": "tasmota",
    "zigbee2mqtt/": "zigbee2mqtt",
    "/events/rpc": "shelly",
    "homie/": "homie",
    "sensors/": "plain_number",
    "devices/": "generic_json",
}


class Collector:
    """A subscriber to '#' on the test broker, keeping (topic, payload) pairs."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ops-collector")
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, what="the collector's subscription")

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def kind_of(topic: str) -> str | None:
    return next((parser for marker, parser in EXPECTED_PARSER.items() if marker in topic), None)


@pytest.fixture
def collector(broker):
    instance = Collector(broker.port)
    yield instance
    instance.close()


def test_every_format_is_published_and_parses_with_its_parser(broker, collector, tmp_path):
    from mqtt_app.parsers import ParseFailure, get_registry

    sim = Process(
        manage_py(
            "mqtt_simulate",
            "--port",
            str(broker.port),
            "--devices",
            "7",
            "--rate",
            "10",
            "--duration",
            "1.5",
            "--malformed",
            "0.15",
            "--seed",
            "4",
        ),
        env=_env(tmp_path),
        log_path=tmp_path / "sim.log",
    )
    wait_for(lambda: not sim.alive(), timeout=30, what="the simulator to finish")
    assert sim.popen.returncode == 0, sim.output()
    assert "published" in sim.output()

    registry = get_registry()
    parsed: dict[str, int] = {}
    failures = 0
    for topic, payload in collector.snapshot():
        if "/$" in topic:
            continue  # Homie attributes: descriptions, not readings
        parser = registry.claim(topic, payload)
        try:
            readings = registry.run(parser.name if parser else kind_of(topic), topic, payload, datetime.now(UTC))
        except ParseFailure:
            failures += 1
            continue
        assert parser is not None and parser.name == kind_of(topic), topic
        assert readings, f"{topic} gave no readings"
        parsed[parser.name] = parsed.get(parser.name, 0) + 1
    assert set(parsed) == set(EXPECTED_PARSER.values())
    assert failures > 0  # the malformed frames
    assert failures < sum(parsed.values())


def test_sigterm_stops_the_simulator_cleanly(broker, collector, tmp_path):
    sim = Process(
        manage_py("mqtt_simulate", "--port", str(broker.port), "--rate", "5"),
        env=_env(tmp_path),
        log_path=tmp_path / "sim.log",
    )
    wait_for(lambda: len(collector.snapshot()) > 10, timeout=30, what="simulated messages")

    sim.signal(signal.SIGTERM)
    sim.popen.wait(timeout=10)

    assert sim.popen.returncode == 0
    assert "published" in sim.output()


def test_bad_options_are_refused_with_a_clear_message(broker, tmp_path):
    sim = Process(
        manage_py("mqtt_simulate", "--port", str(broker.port), "--formats", "senml,xml"),
        env=_env(tmp_path),
        log_path=tmp_path / "sim.log",
    )
    sim.popen.wait(timeout=30)
    assert sim.popen.returncode != 0
    assert "unknown formats ['xml']" in sim.output()


def _env(tmp_path) -> dict[str, str]:
    import os

    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_DIR": str(tmp_path / "logs")}
