"""A real worker process runs a task through the real Redis broker and touches the real database."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_real_worker_runs_a_task_through_redis(celery_worker_process):
    from tasks.diagnostics import ping

    result = ping.apply_async(args=["hello"], queue="default")
    assert result.get(timeout=20) == {"reply": "hello", "database": True}


def test_tasks_are_routed_to_their_named_queues():
    from project.celery import app

    router = app.amqp.router
    assert router.route({}, "tasks.ingest.ingest_batch")["queue"].name == "ingest"
    assert router.route({}, "tasks.reconcile.reconcile")["queue"].name == "control"
    assert router.route({}, "tasks.diagnostics.ping")["queue"].name == "default"
