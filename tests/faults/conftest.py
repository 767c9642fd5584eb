"""The fault suite: each test runs one scenario of faults/scenarios.py against the test database (its child
processes get `process_env`) with private Mosquitto, Redis, RabbitMQ vhost and, where needed, PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from faults.procs import RabbitVhost, postgres_bin_dir
from faults.runner import Result, run_scenario
from faults.scenarios import SCENARIOS


@pytest.fixture(scope="session")
def fault_logs() -> Path:
    """Where the scenarios' logs go: outside pytest's tmp_path, whose old runs are deleted (other pytest runs on
    the machine count too) before anyone reads a failed scenario's listener and worker logs."""
    folder = Path(tempfile.gettempdir()) / "mqttmon-faults" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def run_fault(process_env, fault_logs, request):
    """run_fault("worker_killed", "amqp") -> the scenario's Result (skips what this machine cannot run). The logs
    of a scenario that lost or duplicated nothing are removed."""
    from django.db import connection

    def run(name: str, broker: str) -> Result:
        scenario = SCENARIOS[name]
        if broker == "amqp" and not RabbitVhost.available():
            pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (or rabbitmqctl is missing)")
        if scenario.needs_postgres and connection.vendor != "postgresql":
            pytest.skip("this fault needs PostgreSQL (DATABASE_URL=postgres://...)")
        if scenario.private_postgres and postgres_bin_dir() is None:
            pytest.skip("PostgreSQL's server binaries are not installed")
        folder = fault_logs / f"{name}-{broker}"
        result = run_scenario(scenario, broker, process_env, folder)
        if result.ok and result.recover_s is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return result

    return run
