"""The Celery app. Tasks live in the top-level `tasks` package, an installed app so autodiscovery finds it."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# `tasks` is one package holding every task module, not tasks.py files inside apps, so list them.
app.autodiscover_tasks(["tasks"], related_name=None)
app.conf.imports = ("tasks.reconcile", "tasks.ingest", "tasks.status", "tasks.housekeeping", "tasks.diagnostics")
