"""The Celery app. Tasks live in the top-level `tasks` package, an installed app so autodiscovery finds it."""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import task_postrun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# `tasks` is one package holding every task module, not tasks.py files inside apps, so list them.
app.autodiscover_tasks(["tasks"], related_name=None)  # type: ignore[arg-type] # None: the package itself (Celery's documented use)
app.conf.imports = (
    "tasks.reconcile",
    "tasks.ingest",
    "tasks.status",
    "tasks.housekeeping",
    "tasks.diagnostics",
    "tasks.alerts",
    "tasks.reparse",
)


@worker_process_init.connect
def _freeze_startup_heap(**_: object) -> None:
    """Move everything loaded at start-up (Django, models, parsers) out of the garbage collector's reach.

    A batch allocates thousands of short-lived dicts and lists, so collections run many times per batch, and
    each older-generation collection walked the whole start-up heap. Measured: JSON decoding of the benchmark
    mix took 9.7 µs/message with it, 3.0 without.
    """
    gc.freeze()


@task_postrun.connect
def _count_task(state: str | None = None, **_: object) -> None:
    """Every task run, and whether it failed: the health report's error rate (mqtt_app/observability/errors.py)."""
    from mqtt_app.observability.errors import record_task

    record_task(state)
