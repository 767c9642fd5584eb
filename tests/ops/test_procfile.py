"""The Procfile's processes start, answer, and stop cleanly under honcho (as on a PaaS or in `make run`)."""

from __future__ import annotations

import re
import signal
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, Process, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def procfile_env(process_env, broker):
    env = dict(process_env)
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
        WEB_BIND="127.0.0.1",
        FLOWER_ADDRESS="127.0.0.1",
        WORKER_CONCURRENCY="1",
        OPS_PROCFILE_MARKER=uuid.uuid4().hex,  # to find every process started, and prove they are gone
    )
    return env


def marked_pids(marker: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"OPS_PROCFILE_MARKER={marker}".encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def healthcheck(name: str, env: dict[str, str], tmp_path: Path) -> bool:
    check = Process([sys.executable, "docker/healthcheck.py", name], env=env, log_path=tmp_path / f"hc-{name}.log")
    return check.popen.wait(timeout=60) == 0


def test_release_migrates_and_sets_up_the_schedule(procfile_env, tmp_path):
    release = Process(
        [f"{VENV_BIN}/honcho", "start", "-f", "Procfile", "release"],
        env=procfile_env,
        log_path=tmp_path / "release.log",
    )
    assert release.popen.wait(timeout=120) == 0, release.output()
    assert "Periodic tasks are in place." in release.output()


def test_every_process_starts_answers_auto_starts_active_connections_and_stops_cleanly(procfile_env, broker, tmp_path):
    from mqtt_app.models import ConnectionStatus, MqttConnection, Site

    # Active before the stack starts: nobody clicks anything, beat's reconcile and the listener connect it.
    active = MqttConnection.objects.create(
        site=Site.objects.create(name="Boot"), name="boot", host=broker.host, port=broker.port, is_active=True
    )
    names = ["web", "worker", "beat", "flower", "listener"]
    honcho = Process(
        [f"{VENV_BIN}/honcho", "start", "-f", "Procfile", *names], env=procfile_env, log_path=tmp_path / "honcho.log"
    )
    try:
        for name in ("web", "worker", "flower", "listener"):
            wait_for(
                lambda n=name: healthcheck(n, procfile_env, tmp_path) or not honcho.alive(),
                timeout=90,
                interval=1,
                what=f"the {name} health check",
            )
            assert honcho.alive(), honcho.output()
        wait_for(
            lambda: MqttConnection.objects.get(pk=active.pk).status == ConnectionStatus.CONNECTED,
            timeout=60,
            interval=0.5,
            what="the active connection to be auto-started",
        )
        honcho.signal(signal.SIGTERM)
        honcho.popen.wait(timeout=30)
    finally:
        honcho.stop()

    output = honcho.log_path.read_text(errors="replace")
    codes = dict(re.findall(r"(\w+)\.1 stopped \(rc=(-?\d+)\)", output))
    assert set(codes) == set(names), output
    assert all(code in {"0", "-15"} for code in codes.values()), codes
    assert "Traceback" not in output
    assert marked_pids(procfile_env["OPS_PROCFILE_MARKER"]) == []


def test_the_listener_is_part_of_the_procfile():
    assert "listener: python manage.py mqtt_listener" in (ROOT / "Procfile").read_text()
