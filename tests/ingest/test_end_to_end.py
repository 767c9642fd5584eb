"""Ingestion end to end: a real MQTT client publishes to a private Mosquitto, a
real listener batches into Redis, a real worker parses and stores; the test sees the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mqtt_app.models import MqttConnection, MqttParsingLog, MqttTopic, TelemetryReading
from tests.helpers import wait_for
from tests.ingest.batches import publish

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_parser_validates_and_saves_telemetry(broker, live_connection):
    tasmota = json.dumps({"Time": "2026-11-26T10:00:00", "ENERGY": {"Power": 42.5, "Voltage": 230}}).encode()

    publish(broker, [("tele/plug1/SENSOR", tasmota), ("home/hall/temperature", b"19.5"), ("notes/free", b"hi")])

    wait_for(
        lambda: TelemetryReading.objects.count() >= 3 and MqttTopic.objects.count() == 3,
        timeout=30,
        what="readings of both parsed topics",
    )
    by_metric = {r.metric: r for r in TelemetryReading.objects.select_related("topic")}
    assert by_metric["temperature"].value == 19.5 and by_metric["temperature"].device == "hall"
    assert any(r.value == 42.5 and r.topic.topic == "tele/plug1/SENSOR" for r in by_metric.values())
    topics = {t.topic: t for t in MqttTopic.objects.all()}
    assert topics["tele/plug1/SENSOR"].parser_name == "tasmota"
    assert not topics["notes/free"].is_processable and topics["notes/free"].message_count == 1
    assert MqttConnection.objects.get(pk=live_connection.pk).messages_received == 3


def test_parsing_error_creates_log_entry(broker, live_connection, tmp_path):
    publish(broker, [("home/hall/temperature", b"19.5")])
    wait_for(lambda: TelemetryReading.objects.exists(), timeout=30, what="the topic to be claimed")

    publish(broker, [("home/hall/temperature", b"{not a number")])

    row = wait_for(lambda: MqttParsingLog.objects.first(), timeout=30, what="a parsing log row")
    assert (row.topic_name, row.parser_name, row.error_kind) == ("home/hall/temperature", "plain_number", "validation")
    assert row.payload_excerpt == "{not a number" and row.details
    log_file = Path(tmp_path / "logs" / "mqtt_parsing.log")
    line = wait_for(lambda: log_file.exists() and log_file.read_text(), timeout=10, what="mqtt_parsing.log")
    assert "topic=home/hall/temperature" in line and "kind=validation" in line and "{not a number" in line
