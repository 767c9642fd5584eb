"""Settings come from the environment; bad values fail at start with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SECRET_KEYS = "dGhpcy1pcy1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE="  # a Fernet key (32 bytes, url-safe base64)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" * 13,
    "ALLOWED_HOSTS": "example.com",
    "MQTT_SECRET_KEYS": SECRET_KEYS,
}


def run_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a new process with the project's settings; DEBUG on unless `env` says otherwise (the
    settings' default is off, which needs the production variables)."""
    drop = {"DATABASE_URL", "SECRET_KEY", "DEBUG", "MQTT_SECRET_KEYS", "FLOWER_BASIC_AUTH", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in drop}
    base.update(DJANGO_SETTINGS_MODULE="project.settings", LOG_DIR="/tmp/mqttmon-settings-test-logs", DEBUG="true")
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def test_missing_secret_key_with_debug_off_fails_clearly():
    result = run_check(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_is_off_unless_set():
    base = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    base.update(DJANGO_SETTINGS_MODULE="project.settings", LOG_DIR="/tmp/mqttmon-settings-test-logs", **PRODUCTION)
    del base["DEBUG"]
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_debug_off_without_flower_auth_fails_the_system_check():
    result = run_check(**PRODUCTION)
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH (or FLOWER_AUTH_PROVIDER) must be set" in result.stderr


def test_debug_off_with_every_required_setting_passes():
    result = run_check(**PRODUCTION, FLOWER_BASIC_AUTH="a:b")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"MQTT_RECONCILE_INTERVAL": "soon"}, "MQTT_RECONCILE_INTERVAL='soon' is not a whole number"),
        ({"MQTT_RECONCILE_INTERVAL": "0"}, "MQTT_RECONCILE_INTERVAL=0 is out of range"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with redis://"),
        ({"DATABASE_URL": "nosuchdb://x/y"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not a logging level"),
        ({"DB_RANDOM_PAGE_COST": "cheap"}, "DB_RANDOM_PAGE_COST='cheap' is not a number"),
        ({"DB_RANDOM_PAGE_COST": "-1"}, "DB_RANDOM_PAGE_COST=-1.0 is below the minimum 0.0"),
        ({"DB_BACKEND_FLUSH_AFTER": "256kB"}, "DB_BACKEND_FLUSH_AFTER='256kB' is not a whole number"),
        ({"DB_BACKEND_FLUSH_AFTER": "4096"}, "DB_BACKEND_FLUSH_AFTER=4096 is out of range [0, 2048]"),
        ({"DB_BACKEND_FLUSH_AFTER": "-8"}, "DB_BACKEND_FLUSH_AFTER=-8 is out of range [0, 2048]"),
    ],
)
def test_a_bad_value_names_the_variable(env, message):
    result = run_check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def run_django(code: str, drop: tuple[str, ...] = (), **env: str) -> str:
    """What `code` prints in a new process with the project's settings; `drop`: variables it must not see."""
    base = {k: v for k, v in os.environ.items() if k not in drop}
    base.update(DJANGO_SETTINGS_MODULE="project.settings", LOG_DIR="/tmp/mqttmon-settings-test-logs", **env)
    code = "import django; django.setup(); " + code
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def load_settings(**env: str) -> dict:
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'db': settings.DATABASES['default'], 'redis': settings.REDIS_URL}, default=str))"
    )
    import json

    return json.loads(run_django(code, ("DATABASE_URL", "REDIS_URL"), **env))


def test_without_database_url_the_default_is_sqlite_in_wal_mode():
    loaded = load_settings()
    assert loaded["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in loaded["db"]["OPTIONS"]["init_command"]
    assert loaded["redis"] == "redis://127.0.0.1:6379/0"


def test_an_empty_database_url_counts_as_unset():
    assert load_settings(DATABASE_URL="")["db"]["ENGINE"] == "django.db.backends.sqlite3"


def test_a_postgres_database_url_is_used():
    db = load_settings(DATABASE_URL="postgres://me:pw@db.example:5433/telemetry")["db"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.example", 5433, "telemetry", "me")


@pytest.mark.django_db
def test_the_configured_database_really_answers():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def _session_settings(**env: str) -> tuple[str, str]:
    """random_page_cost and backend_flush_after as a new process's Django connection sees them (PostgreSQL,
    from DATABASE_URL)."""
    code = (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('SELECT current_setting(%s), current_setting(%s)', ['random_page_cost', 'backend_flush_after']); "
        "print(*c.fetchone())"
    )
    cost, flush_after = run_django(code, **env).split()
    return cost, flush_after


POSTGRESQL = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="PostgreSQL session settings; CI (.ci/run) runs it on PostgreSQL",
)


def _servers(name: str) -> str:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as plain:  # a session this product did not open
        return plain.execute(f"SHOW {name}").fetchone()[0]


@POSTGRESQL
def test_each_postgresql_session_prices_a_random_page_read_as_cached_unless_told_to_keep_the_servers():
    server = _servers("random_page_cost")
    assert _session_settings()[0] == "1.1"
    assert _session_settings(DB_RANDOM_PAGE_COST="2.5")[0] == "2.5"
    assert _session_settings(DB_RANDOM_PAGE_COST="server")[0] == server


@POSTGRESQL
def test_each_postgresql_session_has_the_kernel_write_its_evicted_pages_unless_told_to_keep_the_servers():
    server = _servers("backend_flush_after")
    assert _session_settings()[1] == "256kB"
    assert _session_settings(DB_BACKEND_FLUSH_AFTER="512")[1] == "512kB"
    assert _session_settings(DB_BACKEND_FLUSH_AFTER="0")[1] == "0"
    assert _session_settings(DB_BACKEND_FLUSH_AFTER="server")[1] == server
    both_kept = _session_settings(DB_BACKEND_FLUSH_AFTER="server", DB_RANDOM_PAGE_COST="server")
    assert both_kept == (_servers("random_page_cost"), server)


@POSTGRESQL
def test_each_postgresql_session_compiles_no_query_unless_told_to_keep_the_servers_jit():
    def jit(**env: str) -> str:
        code = (
            "from django.db import connection; c = connection.cursor(); c.execute('SHOW jit'); print(c.fetchone()[0])"
        )
        return run_django(code, **env).strip()

    assert jit() == "off"
    assert jit(DB_JIT="true") == "on"
    assert jit(DB_JIT="server") == _servers("jit")
