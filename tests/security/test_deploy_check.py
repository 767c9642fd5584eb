"""`manage.py check --deploy` with the production settings of docs/deploy-settings.md prints nothing; a
production start without MQTT_SECRET_KEYS fails."""

from __future__ import annotations

import re

import pytest

from tests.foundation.test_settings import run_check
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def documented_settings() -> dict[str, str]:
    """The `NAME=value` lines of the document's production block."""
    text = (ROOT / "docs" / "deploy-settings.md").read_text()
    block = re.search(r"```sh\n# production\n(.*?)```", text, re.DOTALL)
    assert block, "docs/deploy-settings.md has no ```sh # production block"
    return dict(re.findall(r"^([A-Z0-9_]+)=(\S*)$", block.group(1), re.MULTILINE))


def test_check_deploy_with_the_documented_settings_prints_nothing():
    env = documented_settings()
    assert env["DEBUG"] == "false"
    # Placeholders of the document, replaced by real values: a strong key, a Fernet key, a broker check skips.
    env.update(
        SECRET_KEY="0tBqY7-vX3pW9kLmN2sR5uA8dF1gH4jZ6cE0iO3yT7wQ9xV2bM5nK8lP1rS4",
        MQTT_SECRET_KEYS="dGhpcy1pcy1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
        FLOWER_BASIC_AUTH="ops:a-long-flower-password",
        CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
    )
    result = run_check("--deploy", **env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_without_secret_keys_fails_at_start():
    result = run_check(DEBUG="false", SECRET_KEY="k3y-" * 13, ALLOWED_HOSTS="example.com", FLOWER_BASIC_AUTH="a:b")
    assert result.returncode != 0
    assert "MQTT_SECRET_KEYS must be set when DEBUG is off" in result.stderr


def test_a_malformed_secret_key_fails_at_start():
    result = run_check(MQTT_SECRET_KEYS="not-a-key")
    assert result.returncode != 0
    assert "MQTT_SECRET_KEYS: key #1 is not a Fernet key" in result.stderr
