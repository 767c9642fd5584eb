"""Deploy files agree with the code: .env.example lists every variable, the compose file is complete."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.helpers import ROOT

APP_SERVICES = {"release", "web", "listener", "worker", "beat", "flower"}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def test_env_example_lists_every_variable_the_settings_and_procfile_read():
    names = set(
        re.findall(r'env_(?:str|bool|int|float|list)\("([A-Z0-9_]+)"', (ROOT / "project/settings.py").read_text())
    )
    names |= set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "Procfile").read_text() + (ROOT / "bin/flower").read_text()))
    listed = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert names, "no variables found in settings.py"
    assert names - listed == set()


def test_compose_runs_every_procfile_process_and_the_services_they_need():
    services = compose()["services"]
    assert set(procfile()) == APP_SERVICES
    assert set(services) == APP_SERVICES | {"postgres", "redis", "mosquitto"}
    for name in APP_SERVICES:
        assert services[name]["command"] == [name]
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"


def test_every_long_running_service_has_a_health_check():
    services = compose()["services"]
    for name, service in services.items():
        if name == "release":
            assert service["restart"] == "no"
            continue
        assert service["healthcheck"]["test"], name
        if name in APP_SERVICES:
            assert service["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py", name]


def test_services_wait_for_healthy_dependencies_and_a_finished_release():
    services = compose()["services"]
    for name in APP_SERVICES - {"release"}:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["release"]["condition"] == "service_completed_successfully"
        assert set(depends) <= set(services)
    assert services["listener"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert services["web"]["environment"]["DEBUG"] == "false"


def test_the_image_is_slim_runs_as_a_user_and_starts_procfile_lines():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["docker/entrypoint.sh"]' in dockerfile


def test_the_entrypoint_passes_other_commands_through():
    result = subprocess.run(
        ["docker/entrypoint.sh", "echo", "hello"], cwd=ROOT, capture_output=True, text=True, timeout=10
    )
    assert result.stdout == "hello\n"


def test_the_health_check_script_refuses_an_unknown_process():
    result = subprocess.run(["docker/healthcheck.py", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "usage" in result.stderr
