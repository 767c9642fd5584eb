"""Fixtures on real services: the test database shared with child processes, Redis, brokers, a worker."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings

from tests.brokers import MosquittoBroker
from tests.helpers import Process, wait_for, worker_answers, worker_command

pytest_plugins = ["tests.browser_fixtures"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Every test starts with an empty test Redis database (broker queues, listener registry, channel layer)."""
    from django.core.cache import cache

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    cache.clear()  # per-process cached reports (success metrics) must not leak between tests
    yield
    client.close()


@pytest.fixture(autouse=True)
def _forget_topic_rows():
    """Each test's database is rolled back, and with it the topic rows this process cached (ingest.topics)."""
    from mqtt_app.ingest.topics import topic_cache

    topic_cache.clear()
    yield
    topic_cache.clear()


@pytest.fixture
def redis_client():
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def process_env(transactional_db, tmp_path) -> dict[str, str]:
    """Environment for child processes (worker, listener, beat) pointing at this test's database and Redis."""
    from django.db import connection

    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        LOG_DIR=str(tmp_path / "logs"),
        PYTHONUNBUFFERED="1",
    )
    if db["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        user = db.get("USER") or ""
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        env["DATABASE_URL"] = f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    return env


@pytest.fixture
def broker(tmp_path):
    """A private Mosquitto on a free loopback port (anonymous, no persistence)."""
    instance = MosquittoBroker(tmp_path / "broker")
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def broker_factory(tmp_path):
    """Start more brokers with options: broker_factory(users={"u": "p"}) for a password file."""
    started: list[MosquittoBroker] = []

    def make(**options) -> MosquittoBroker:
        instance = MosquittoBroker(tmp_path / f"broker{len(started)}", **options)
        instance.start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


@pytest.fixture
def celery_worker_process(process_env, tmp_path):
    """A real `celery worker` process consuming every queue of this product, through the real Redis."""
    worker = Process(
        worker_command("test@%h"),
        env=process_env,
        log_path=tmp_path / "worker.log",
    )
    from project.celery import app

    wait_for(lambda: worker_answers(app), timeout=30, what="the Celery worker to answer a ping")
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def mosquitto_bin() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(path).exists():
        pytest.fail("mosquitto is not installed: sudo apt-get install mosquitto (make test does it)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _close_leftover_sessions(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN202
    """At the end of the run, end the test database's other sessions so pytest-django can drop it. The browser
    tests leave one: while Playwright's sync API runs an event loop in the test's thread, Django keeps its
    connections per async context (asgiref's Local), so a browser test's ORM calls use a connection that the
    clean-up of the thread's own connection never sees."""
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


# --- RabbitMQ --------------------------------------------------------------------------------------------------
AMQP_PORT = 5672


@pytest.fixture
def amqp_broker_url():
    """`amqp://` on a vhost of this test's own on the machine's RabbitMQ (127.0.0.1:5672, guest), deleted after:
    concurrent runs and tests never share a queue. Pass it as CELERY_BROKER_URL to child processes."""
    import subprocess
    import uuid

    from tests.helpers import port_open

    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not port_open(AMQP_PORT) or not Path(ctl).exists():
        pytest.fail("RabbitMQ is not listening on 127.0.0.1:5672 (make test starts it: scripts/bootstrap.sh)")
    vhost = f"test-{uuid.uuid4().hex[:12]}"

    def run(*args: str) -> None:
        subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)

    run("add_vhost", vhost)
    try:
        run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:{AMQP_PORT}/{vhost}"
    finally:
        run("delete_vhost", vhost)
