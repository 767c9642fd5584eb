"""A real Celery worker on RabbitMQ, for the broker tests."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Process, wait_for, worker_answers, worker_command


def start_amqp_worker(app, url: str, env: dict[str, str], log: Path, name: str = "amqp@%h") -> Process:  # noqa: ANN001
    """A real `celery worker` consuming every queue of this product from RabbitMQ at `url`, answering pings."""
    worker = Process(worker_command(name), env={**env, "CELERY_BROKER_URL": url}, log_path=log)
    try:
        wait_for(lambda: worker_answers(app), timeout=60, what="the worker on RabbitMQ to answer a ping")
    except AssertionError:
        worker.stop()
        raise AssertionError(worker.output()[-3000:]) from None
    return worker
