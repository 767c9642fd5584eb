"""bin/flower never serves an unauthenticated Flower beyond loopback (celery is replaced by a stub that prints
what it would have been started with)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.fixture
def run_flower(tmp_path):
    stub = tmp_path / "bin" / "celery"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "args: $*"\necho "open-api: ${FLOWER_UNAUTHENTICATED_API:-unset}"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    python_dir = str(Path(sys.executable).parent)

    def run(**env: str) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
        base.update(PATH=f"{stub.parent}:{python_dir}:/usr/bin:/bin", DEBUG="true", LOG_DIR=str(tmp_path / "logs"))
        base.update(env)
        return subprocess.run(["bin/flower"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)

    return run


def test_without_authentication_it_binds_loopback(run_flower):
    result = run_flower()
    assert result.returncode == 0, result.stderr
    assert "--address=127.0.0.1" in result.stdout
    assert "open-api: true" in result.stdout  # local tools may use the API on loopback only


@pytest.mark.parametrize("address", ["0.0.0.0", "10.0.0.5", "::"])
def test_without_authentication_it_refuses_any_other_address(run_flower, address):
    result = run_flower(FLOWER_ADDRESS=address, FLOWER_UNAUTHENTICATED_API="true")
    assert result.returncode == 1
    assert "refusing to serve Flower" in result.stderr
    assert "args:" not in result.stdout


def test_with_basic_auth_it_binds_every_address_and_never_opens_the_api(run_flower):
    result = run_flower(FLOWER_BASIC_AUTH="ops:pw", FLOWER_UNAUTHENTICATED_API="true")
    assert result.returncode == 0, result.stderr
    assert "--address=0.0.0.0" in result.stdout and "--basic-auth=ops:pw" in result.stdout
    assert "open-api: unset" in result.stdout


def test_with_oauth_it_leaves_authentication_to_flowers_own_settings(run_flower):
    result = run_flower(FLOWER_AUTH_PROVIDER="flower.views.auth.GithubLoginHandler", FLOWER_ADDRESS="0.0.0.0")
    assert result.returncode == 0, result.stderr
    assert "--basic-auth" not in result.stdout and "open-api: unset" in result.stdout
