"""mqtt.connections and mqtt.parsing lines land in their own files under LOG_DIR, as JSON when LOG_JSON=true."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT

SCRIPT = """
import logging, django
django.setup()
logging.getLogger("mqtt.connections").info("connection %s connected", 7, extra={"connection_id": 7})
logging.getLogger("mqtt.parsing").warning("parse failure on %s", "tele/plug/SENSOR")
logging.getLogger("mqtt_app.other").info("an ordinary line")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("mqtt_app.other").exception("it broke\\non two lines")
"""


def run_with(tmp_path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_DIR": str(tmp_path), **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_each_mqtt_logger_has_its_own_file_and_stdout_gets_everything(tmp_path):
    stdout = run_with(tmp_path, LOG_JSON="false")

    connections = (tmp_path / "mqtt_connections.log").read_text()
    parsing = (tmp_path / "mqtt_parsing.log").read_text()
    assert "connection 7 connected" in connections and "parse failure" not in connections
    assert "parse failure on tele/plug/SENSOR" in parsing and "connected" not in parsing
    assert "an ordinary line" not in connections + parsing
    lines = stdout.splitlines()
    assert len(lines) == 4  # the traceback is folded onto its line, for a PaaS log drain
    assert "ZeroDivisionError" in lines[-1] and "it broke\\non two lines" in lines[-1]


def test_json_lines_when_log_json_is_on(tmp_path):
    stdout = run_with(tmp_path, LOG_JSON="true")

    line = json.loads((tmp_path / "mqtt_connections.log").read_text().splitlines()[0])
    assert line["logger"] == "mqtt.connections" and line["level"] == "INFO"
    assert line["message"] == "connection 7 connected" and line["connection_id"] == 7
    assert json.loads((tmp_path / "mqtt_parsing.log").read_text())["level"] == "WARNING"
    records = [json.loads(text) for text in stdout.splitlines()]
    assert len(records) == 4 and "ZeroDivisionError" in records[-1]["exc_info"]
