"""Fixtures for the broker tests: a Celery app and a real worker on a private RabbitMQ vhost, a private Redis."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.brokers_suite.amqp import start_amqp_worker
from tests.helpers import Process, free_port, port_open, wait_for


@pytest.fixture
def amqp_app(amqp_broker_url):
    """This product's Celery configuration, sending to the test's RabbitMQ vhost (what a process started with
    CELERY_BROKER_URL=amqp://... gets from settings.py)."""
    from celery import Celery

    from project.broker import amqp_settings

    app = Celery("amqp-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=amqp_broker_url, **amqp_settings())
    yield app
    app.close()


@pytest.fixture
def amqp_worker(amqp_app, amqp_broker_url, process_env, tmp_path):
    worker = start_amqp_worker(amqp_app, amqp_broker_url, process_env, tmp_path / "worker.log")
    yield worker
    worker.stop()


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, started with the given options."""

    def __init__(self, folder: Path, *options: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder), *options]
        self.process = Process(args, env={"PATH": "/usr/bin:/bin"}, log_path=folder / "redis.log")
        wait_for(lambda: port_open(self.port), timeout=10, what=f"redis-server on port {self.port}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.stop(timeout=5)


@pytest.fixture
def private_redis(tmp_path):
    """private_redis("--appendonly", "no", ...): a private Redis started with those options, stopped after."""
    started: list[PrivateRedis] = []

    def start(*options: str) -> PrivateRedis:
        server = PrivateRedis(tmp_path / f"redis{len(started)}", *options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
