"""Helpers for tests that run real processes: the shared ones live in faults/procs.py (tests and tools use
the same), re-exported here under the names the tests have always imported."""

from __future__ import annotations

from typing import Any

from faults.procs import ROOT, Process, celery_bin, free_port, manage_py, port_open, wait_for, worker_command

__all__ = [
    "ROOT", "Process", "celery_bin", "free_port", "manage_py", "port_open", "wait_for", "worker_answers",
    "worker_command",
]  # fmt: skip


def worker_answers(app: Any) -> bool:  # noqa: ANN401 - a Celery app
    """Whether a worker of `app`'s broker answers a ping (False while none is up yet)."""
    try:
        return bool(app.control.ping(timeout=0.5))
    except Exception:  # noqa: BLE001 - not up yet
        return False


def session_cookie(user) -> str:  # noqa: ANN001
    """The session cookie of `user` logged in, for a WebSocket or a browser."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
