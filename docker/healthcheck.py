#!/usr/bin/env python
"""Container health checks, one per Procfile process: `python docker/healthcheck.py web|worker|beat|listener|flower`.

Exit 0 when healthy, 1 otherwise (with the reason on stderr), as Docker's HEALTHCHECK expects.
- web: GET /api/health on $PORT answers 200;
- worker: this container's worker answers a Celery ping;
- beat: the reconcile periodic task ran within three intervals (beat alive and ticking);
- listener: a live heartbeat in Redis from a listener on this host;
- flower: its port accepts connections.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()


def check_web() -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a fixed local URL
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def check_worker() -> str | None:
    _django()
    from project.celery import app

    name = os.environ.get("WORKER_NAME") or f"celery@{socket.gethostname()}"
    replies = app.control.ping([name], timeout=3)
    return None if replies else f"worker {name} did not answer a ping"


def check_beat() -> str | None:
    _django()
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    from mqtt_app.services.schedule import RECONCILE_TASK_NAME

    task = PeriodicTask.objects.filter(name=RECONCILE_TASK_NAME).first()
    if task is None or task.last_run_at is None:
        # Just started: the first tick comes one interval after start; the start period covers it.
        return "reconcile has not run yet"
    age = time.time() - task.last_run_at.timestamp()
    limit = 3 * settings.MQTT_RECONCILE_INTERVAL + 10
    return None if age <= limit else f"reconcile last ran {age:.0f} s ago (limit {limit} s)"


def check_listener() -> str | None:
    _django()
    from mqtt_app import coordination

    client = coordination.connect()
    beats = coordination.live_listeners(client).values()
    mine = [beat for beat in beats if beat.get("host") == socket.gethostname()]
    return None if mine else "no live listener heartbeat from this host"


def check_flower() -> str | None:
    port = int(os.environ.get("FLOWER_PORT", "5555"))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return None
    except OSError as exc:
        return f"flower port {port}: {exc}"


CHECKS = {
    "web": check_web,
    "worker": check_worker,
    "beat": check_beat,
    "listener": check_listener,
    "flower": check_flower,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        problem = CHECKS[argv[1]]()
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", with its reason
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
