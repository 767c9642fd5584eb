"""The scenarios: each injects one fault into a running stack while a numbered stream flows, and returns once
the fault has ended (the service is back, or the killed process has been replaced, as a supervisor would)."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .procs import wait_for
from .publisher import Stream
from .stack import Stack

BROKERS = ("redis", "amqp")
MINUTE = 60.0
WORKER_KILLS = 3
BURST = 400  # messages sent at once right before the site's broker restarts

Fault = Callable[[Stack, Stream], str]  # returns a note for the report


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    fault: Fault
    brokers: tuple[str, ...] = BROKERS
    # The brokers the test suite runs it on: a one-minute fault only where it tests most (the suite's budget).
    suite_brokers: tuple[str, ...] | None = None
    messages: int = 2_000
    rate: float = 500.0
    max_queued: int | None = 0  # the site broker's max_queued_messages: 0 unlimited, None Mosquitto's 1,000
    persistence: bool = False
    redis_aof: str | None = None
    private_postgres: bool = False
    needs_postgres: bool = False
    hostile: bool = False
    stack_options: dict = field(default_factory=dict)


def _hold(seconds: float) -> None:
    time.sleep(seconds)  # the fault's own duration (a service kept away), not a wait for a condition


def no_fault(stack: Stack, stream: Stream) -> str:
    return "hostile payloads mixed into the stream"


def kill_db_sessions(stack: Stack, stream: Stream) -> str:
    return f"{stack.terminate_sessions()} sessions terminated"


def stop_postgres(stack: Stack, stream: Stream) -> str:
    assert stack.postgres is not None
    stack.postgres.stop()
    _hold(MINUTE)
    stack.postgres.start()
    return "PostgreSQL stopped (fast) for 60 s"


def kill_worker(stack: Stack, stream: Stream) -> str:
    # Three kills, each once the replacement is taking batches: a batch is lost only if a kill lands in a window
    # of milliseconds (taken off the Redis queue, not yet in kombu's unacknowledged set), so one kill found it
    # about half the time.
    for kill in range(WORKER_KILLS):
        stack.worker.kill()
        stack.start_worker()
        if kill + 1 < WORKER_KILLS:
            wait_for(lambda: "ingest_batch[" in stack.worker.output() or stream.done(), timeout=60, interval=0.05,
                     what="the new worker to take a batch")  # fmt: skip
            _hold(random.uniform(0.2, 0.6))  # the next kill at a random point of the flow, not at a batch's start
    return f"worker SIGKILLed (main process and pool) {WORKER_KILLS} times, each time a new one started"


def kill_listener(stack: Stack, stream: Stream) -> str:
    stack.listener.kill()
    stack.start_listener()
    return "listener SIGKILLed, a new one started (new id)"


def restart_redis(stack: Stack, stream: Stream) -> str:
    stack.redis.stop()
    stack.redis.start()
    return "redis-server SIGTERM (saves its RDB) and start"


def kill_redis_aof(stack: Stack, stream: Stream) -> str:
    stack.redis.kill()
    stack.redis.start()
    return "redis-server SIGKILL with appendonly yes (appendfsync everysec) and start"


def redis_away(stack: Stack, stream: Stream) -> str:
    stack.redis.stop()
    _hold(MINUTE)
    stack.redis.start()
    return "Redis stopped for 60 s; the site's broker keeps 1,000 messages"


def restart_mqtt_broker(stack: Stack, stream: Stream) -> str:
    # The listener is frozen (SIGSTOP) through a burst, so the broker holds messages for it, queued and in
    # flight, when it goes down; at an even rate the listener has acknowledged nearly everything at any moment.
    stack.listener.signal(signal.SIGSTOP)
    try:
        target = stream.burst(BURST)
        wait_for(lambda: stream.published >= target or stream.done(), timeout=30, what="the burst sent")
        stream.pause()
        counts = stack.counts()
        waiting = len(stream.acked() - counts[1]) if counts else "?"
        stack.mosquitto.restart()
    finally:
        stack.listener.signal(signal.SIGCONT)
    stream.resume()
    return (
        f"Mosquitto (persistence on) SIGTERM and start with {waiting} messages not yet stored (the listener "
        "frozen meanwhile, the publisher paused)"
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("hostile_payloads", "Hostile payloads among the numbered ones", no_fault, hostile=True),
        Scenario("db_sessions_killed", "pg_terminate_backend of the product's sessions", kill_db_sessions,
                 needs_postgres=True),
        Scenario("postgres_stopped", "PostgreSQL stopped for a minute", stop_postgres, suite_brokers=("redis",),
                 messages=2_000, rate=500.0, private_postgres=True, needs_postgres=True),
        Scenario("worker_killed", "Worker SIGKILL", kill_worker, messages=5_000),
        Scenario("listener_killed", "Listener SIGKILL", kill_listener),
        Scenario("redis_restarted", "Redis restarted gracefully", restart_redis),
        Scenario("redis_killed_aof", "Redis killed, with an append-only file", kill_redis_aof, redis_aof="everysec"),
        Scenario("redis_away_minute", "Redis away for a minute, site broker at its 1,000-message default",
                 redis_away, suite_brokers=("redis",), messages=6_000, rate=200.0, max_queued=None),
        Scenario("mqtt_broker_restarted", "The site's MQTT broker restarted", restart_mqtt_broker, persistence=True),
    ]
}  # fmt: skip


def selected(names: list[str] | None, brokers: list[str], vendor: str) -> tuple[list[tuple[Scenario, str]], list[str]]:
    """The (scenario, broker) runs asked for, in order, and why any asked for cannot run on this database."""
    runs, skipped = [], []
    for name in names or list(SCENARIOS):
        scenario = SCENARIOS[name]
        if scenario.needs_postgres and vendor != "postgresql":
            skipped.append(f"{name}: skipped, it needs PostgreSQL")
            continue
        runs += [(scenario, broker) for broker in brokers if broker in scenario.brokers]
    return runs, skipped
