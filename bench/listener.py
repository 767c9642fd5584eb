"""The listener's CPU per received message, alone: `python -m bench.listener [--connections 1,10] ...`.

A private Mosquitto, the benchmark's pre-encoding QoS 1 publisher (another process: its CPU is not counted),
and this process as the listener: the real `ListenerService` (reader, batcher, acks, Celery sends into
Redis) without a worker or a database. The `ingest` queue it fills is deleted as it goes. Prints one JSON
line per scenario: messages, seconds, the process's CPU µs per message, batches.

Redis: REDIS_URL (use a private db number, e.g. redis://127.0.0.1:6379/9).
`--profile out.txt` samples this process with py-spy (raw stacks) while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ingest.settings")

import django  # noqa: E402

django.setup()

from bench.procs import free_port, mosquitto_binary, mosquitto_config, wait_for  # noqa: E402
from mqtt_app.listener.client import ConnectionSpec  # noqa: E402
from mqtt_app.listener.service import ListenerService  # noqa: E402


def cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def scenario(port: int, count: int, rate: float, seconds: float, profile: str | None) -> dict:
    service = ListenerService("bench-listener")
    specs = {
        cid: ConnectionSpec(cid, "127.0.0.1", port, client_id=f"bench-l{count}-{cid}", topics=(("#", 1),))
        for cid in range(1, count + 1)
    }
    service.batcher.start()
    service.apply(specs, set())
    stop = threading.Event()

    def loop() -> None:
        next_tick = 0.0
        while not stop.is_set():
            service.reactor.run_once(max_wait=0.2)
            service._hand_over()  # noqa: SLF001
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + 1.0
                service.tick()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    wait_for(lambda: all(c.paho.is_connected() for c in service.clients.values()), 20, 0.05, what="connected")
    time.sleep(0.5)  # subscriptions
    published = int(rate * seconds)
    expected = published * count
    base = service.batcher.stats["messages"]
    cpu0, t0 = cpu(), time.monotonic()
    publisher = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest.publisher", "--port", str(port), "--rate", str(rate)]
        + ["--count", str(published), "--start-seq", "0", "--probe-every", "0", "--probe-start", "0"]
        + ["--client-id", f"bench-pub-{count}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    spy = None
    if profile:
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(os.getpid()), "-f", "raw"]
            + ["-o", profile, "-r", "1000", "-d", str(int(seconds)), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    redis = service.redis
    while service.batcher.stats["messages"] - base < expected and time.monotonic() - t0 < seconds + 30:
        time.sleep(0.05)
        redis.delete("ingest", "control")
    done = service.batcher.stats["messages"] - base
    elapsed = time.monotonic() - t0
    time.sleep(0.2)  # the last acks
    user, system = (after - before for after, before in zip(cpu(), cpu0, strict=True))
    report = json.loads(publisher.communicate(timeout=60)[0] or "{}")
    if spy:
        spy.wait(timeout=60)
    stop.set()
    thread.join(5)
    for cid in list(service.clients):
        service._drop(cid, report=False)  # noqa: SLF001
    service.batcher.stop()
    redis.delete("ingest", "control")
    return {
        "connections": count,
        "messages": done,
        "expected": expected,
        "pubacks": report.get("acked"),
        "seconds": round(elapsed, 2),
        "cpu_us_per_msg": round((user + system) / max(done, 1) * 1e6, 2),
        "user_us": round(user / max(done, 1) * 1e6, 2),
        "system_us": round(system / max(done, 1) * 1e6, 2),
        "batches": service.batcher.stats["batches"],
        "loops": service.reactor.iterations,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", default="1,10")
    parser.add_argument("--rate", type=float, default=8000, help="received msgs/s in all (split over connections)")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-listener-"))
    port = free_port()
    broker = subprocess.Popen(
        [mosquitto_binary(), "-c", str(mosquitto_config(folder, port, True))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        for count in [int(c) for c in args.connections.split(",")]:
            profile = f"{args.profile}.{count}" if args.profile else None
            print(json.dumps(scenario(port, count, args.rate / count, args.seconds, profile)), flush=True)
    finally:
        broker.terminate()
        broker.wait(10)


if __name__ == "__main__":
    main()
