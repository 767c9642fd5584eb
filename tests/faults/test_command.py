"""`python manage.py mqtt_faults` against a database nobody migrated: a clear error, not a traceback."""

from __future__ import annotations

import os
import subprocess

from tests.helpers import ROOT, manage_py


def test_an_unmigrated_database_is_refused_with_what_to_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env |= {"DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "LOG_DIR": str(tmp_path)}  # fmt: skip

    done = subprocess.run(manage_py("mqtt_faults"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "the database is not migrated: run `python manage.py migrate` first" in done.stderr
    assert "Traceback" not in done.stderr
