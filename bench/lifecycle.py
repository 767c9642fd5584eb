"""The lifecycle benchmark (`python manage.py mqtt_bench_lifecycle`): prints figures, asserts nothing.

It runs the real pieces on this machine: a private Mosquitto on a free loopback port, a Celery worker on
the `control` queue, listener processes, and this process as the reconciler. Figures:
- start-to-connected: `set_active(True)` (what `POST .../start` does) until the database says connected;
- reconcile cycle time with N connections (first assignment, and a steady-state cycle);
- memory, threads and idle CPU of one listener holding N connections;
- failover: SIGKILL of a listener until another holds all its connections, with reconcile at the
  configured interval (beat's schedule) running in this process.
It creates its own site ("bench-lifecycle") and deletes it at the end.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from bench.procs import ROOT, celery_worker, cpu_seconds, free_port, mosquitto_binary, wait_for
from mqtt_app import coordination
from mqtt_app.models import ConnectionStatus, MqttConnection, Site
from mqtt_app.services.control import set_active
from mqtt_app.services.reconcile import run_reconcile

SITE = "bench-lifecycle"


def _proc_status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return "?"


class Bench:
    def __init__(self, connections: int, trials: int, out: Callable[[str], None]) -> None:
        self.count = connections
        self.trials = trials
        self.out = out
        self.folder = Path(tempfile.mkdtemp(prefix="mqttmon-bench-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.redis = coordination.connect()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # --- processes ---------------------------------------------------------------------------------
    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def start_services(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets each side need room
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.spawn("mosquitto", [mosquitto_binary(), "-c", str(config)])
        self.spawn("worker", celery_worker("control", 1, f"bench-{os.getpid()}"))

    def start_listener(self, listener_id: str) -> subprocess.Popen:
        process = self.spawn(listener_id, [sys.executable, "manage.py", "mqtt_listener", "--id", listener_id])
        wait_for(lambda: self.redis.exists(coordination.listener_key(listener_id)), 60, what=f"listener {listener_id}")
        return process

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    # --- data ----------------------------------------------------------------------------------------
    def create_connections(self, total: int, active: bool) -> None:
        site, _ = Site.objects.get_or_create(name=SITE)
        have = MqttConnection.objects.filter(site=site).count()
        MqttConnection.objects.bulk_create(
            MqttConnection(
                site=site,
                name=f"bench-{i}",
                host="127.0.0.1",
                port=self.port,
                is_active=active,
                topics=[{"filter": f"bench/{i}/#", "qos": 1}],
            )
            for i in range(have, total)
        )

    def connected_in_db(self, ids: list[int]) -> bool:
        return MqttConnection.objects.filter(pk__in=ids, status=ConnectionStatus.CONNECTED).count() == len(ids)

    def held_connected(self, listener_id: str, ids: list[int] | None = None) -> int:
        """How many connections (of `ids`, or all) the listener's last heartbeat reports connected."""
        beat = coordination.live_listeners(self.redis).get(listener_id) or {}
        held = beat.get("connections", {})
        keys = [str(i) for i in ids] if ids is not None else list(held)
        return sum(1 for key in keys if (held.get(key) or {}).get("status") == "connected")

    # --- measurements ----------------------------------------------------------------------------------
    def start_to_connected(self) -> None:
        """`set_active` enqueues a reconcile on commit, exactly like the API's start."""
        pk = MqttConnection.objects.filter(site__name=SITE).order_by("pk").values_list("pk", flat=True).first()
        samples = []
        for _ in range(self.trials):
            set_active([pk], False)
            wait_for(lambda: MqttConnection.objects.get(pk=pk).status == ConnectionStatus.STOPPED, 30, what="stopped")
            started = time.monotonic()
            set_active([pk], True)
            wait_for(lambda: self.connected_in_db([pk]), 30, 0.005, what="connected")
            samples.append(time.monotonic() - started)
        samples.sort()
        self.out(
            f"start-to-connected ({self.trials} trials): p50 {statistics.median(samples):.3f} s, "
            f"max {samples[-1]:.3f} s (goal p50 < 1.5 s, limit 30 s)"
        )

    def reconcile_times(self) -> None:
        MqttConnection.objects.filter(site__name=SITE).update(is_active=True)
        self.assigned_at = time.monotonic()
        first = run_reconcile()
        steady = [run_reconcile()["seconds"] for _ in range(5)]
        total = MqttConnection.objects.count()
        self.out(
            f"reconcile with {total} connections: first assignment {first['seconds']:.3f} s "
            f"({first['status_changes']} status changes); steady cycle median {statistics.median(steady):.3f} s"
            f" (goal < 0.5 s, limit 5 s)"
        )

    def listener_footprint(self, listener_id: str) -> None:
        wait_for(lambda: self.held_connected(listener_id) >= self.count, 180, what=f"{self.count} connected")
        waited = time.monotonic() - self.assigned_at
        pid = self.processes[listener_id].pid
        time.sleep(10.0)  # let the connect burst (a thousand status tasks) settle before sampling idle CPU
        cpu_before, wall = cpu_seconds([pid]), time.monotonic()
        time.sleep(10.0)
        idle = (cpu_seconds([pid]) - cpu_before) / (time.monotonic() - wall) * 100
        self.out(
            f"one listener holding {self.count} connections: all connected {waited:.1f} s after the reconcile "
            f"(seen through {settings.MQTT_LISTENER_HEARTBEAT:g} s heartbeats); "
            f"RSS {_proc_status(pid, 'VmRSS')}, {_proc_status(pid, 'Threads')} threads, idle CPU {idle:.2f}% "
            f"of one core"
        )

    def failover(self) -> None:
        interval = float(settings.MQTT_RECONCILE_INTERVAL)
        second = "bench-L2"
        self.start_listener(second)
        run_reconcile()  # the new listener gets a share (the load is uneven)
        # Only this benchmark's connections: another active row in the database (unreachable broker) would
        # be assigned too and never connect.
        ours = {str(pk) for pk in MqttConnection.objects.filter(site__name=SITE).values_list("pk", flat=True)}
        mine = [
            int(cid)
            for cid, owner in coordination.read_assignments(self.redis).items()
            if owner == second and str(cid) in ours
        ]
        wait_for(lambda: self.held_connected(second, mine) >= len(mine), 120, what="the new listener's share")
        doomed_ids = [
            cid
            for cid, owner in coordination.read_assignments(self.redis).items()
            if owner == "bench-L1" and str(cid) in ours
        ]
        stop = threading.Event()
        ticker = threading.Thread(target=self._reconcile_every, args=(interval, stop), daemon=True)
        time.sleep(random.uniform(0, interval))  # beat's phase relative to the crash is arbitrary
        killed = time.monotonic()
        ticker.start()
        os.killpg(self.processes["bench-L1"].pid, signal.SIGKILL)
        wait_for(lambda: self.held_connected(second, doomed_ids) == len(doomed_ids), 300, 0.1, what="failover")
        took = time.monotonic() - killed
        stop.set()
        self.out(
            f"failover of {len(doomed_ids)} connections after SIGKILL: {took:.1f} s "
            f"(heartbeat TTL {settings.MQTT_LISTENER_TTL:g} s, then a survivor requests a reconcile; "
            f"beat every {interval:g} s as the backstop; goal < 45 s)"
        )

    @staticmethod
    def _reconcile_every(interval: float, stop: threading.Event) -> None:
        from django.db import connection

        while not stop.wait(interval):
            run_reconcile()
        connection.close()

    def cleanup(self) -> None:
        Site.objects.filter(name=SITE).delete()
        run_reconcile()
        shutil.rmtree(self.folder, ignore_errors=True)
