"""Helpers for tests that run real processes: the shared ones live in faults/procs.py (tests and tools use
the same), re-exported here under the names the tests have always imported."""

from __future__ import annotations

from faults.procs import ROOT, Process, celery_bin, free_port, manage_py, port_open, wait_for, worker_command

__all__ = ["ROOT", "Process", "celery_bin", "free_port", "manage_py", "port_open", "wait_for", "worker_command"]
