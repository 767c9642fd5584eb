"""Child processes of the benchmarks and CPU accounting from /proc (a process and all its descendants). The
helpers tests use too (wait_for, free_port, mosquitto_binary, ...) come from faults/procs.py."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from faults.procs import ROOT, celery_bin, free_port, mosquitto_binary, port_open, wait_for

__all__ = [
    "ROOT", "Children", "celery_worker", "cpu_seconds", "free_port", "mosquitto_binary", "mosquitto_config",
    "pids_by_command", "port_open", "session_pids", "wait_for",
]  # fmt: skip

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int], reaped: bool = False) -> float:
    """CPU seconds of these processes; with `reaped`, plus what their exited children used (a parent's
    cutime/cstime: a PostgreSQL backend or a pool process that ended during a phase still counts)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since listed
        total += (int(fields[11]) + int(fields[12])) / TICKS
        if reaped:
            total += (int(fields[13]) + int(fields[14])) / TICKS
    return total


def session_pids(session: int) -> list[int]:
    """Every process of a session (a child started with start_new_session, and its pool children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:
                found.append(int(entry.name))
    return found


def pids_by_command(command: str) -> list[int]:
    """Every process whose command name (/proc/PID/comm) is `command`: PostgreSQL backends rewrite their
    argv, so `pidof` misses some of them."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Children:
    """Named child processes, each in its own session, logs in one folder, all stopped by `stop_all`."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.processes: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str], **popen: Any) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        popen.setdefault("stdout", log)
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, stderr=log, start_new_session=True, **popen)
        self.processes[name] = process
        return process

    def pids(self, name: str) -> list[int]:
        process = self.processes.get(name)
        return session_pids(process.pid) if process and process.poll() is None else []

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


def mosquitto_config(folder: Path, port: int, high_rate: bool) -> Path:
    """A private broker; `high_rate` lifts the per-client limits a high-rate site needs (docs/benchmarks.md)."""
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if high_rate:
        lines += ["max_inflight_messages 1000", "max_queued_messages 1000000", "max_queued_bytes 0"]
    if os.geteuid() == 0:
        lines.append("user root")
    path = folder / f"mosquitto-{port}.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def celery_worker(queues: str, concurrency: int, name: str) -> list[str]:
    """The command line of a benchmark's Celery worker (this virtualenv's celery, quiet, no cluster chatter).
    With task events on (-E) like the Procfile's worker, so the figures include what Flower's events cost."""
    return [celery_bin(), "-A", "project", "worker", "-E", "-Q", queues, "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "-n", f"{name}@%h", "-l", "WARNING"]  # fmt: skip
