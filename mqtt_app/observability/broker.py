"""The Celery broker seen from outside: queue depths on Redis or RabbitMQ, and whether a Redis broker keeps
queued batches through a restart or memory pressure.

Depths are read after every batch the listener sends (mqtt_app/listener/batcher.py) and at every /metrics
scrape, so both probes are one round trip on a connection kept open: a pipeline of LLENs on Redis, a passive
queue.declare per queue (its message_count: messages ready, not those a worker holds) on RabbitMQ.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import amqp
import redis
from kombu import Connection

from project.broker import is_amqp

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps priority levels in sibling lists "<queue>\x06\x16<n>".
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
PROBE_TIMEOUT = 1.0  # seconds: a depth or durability probe must answer even when the broker hangs


def kind(url: str) -> str:
    return "rabbitmq" if is_amqp(url) else "redis"


def queue_depths(url: str, queues: Iterable[str]) -> dict[str, int]:
    """Tasks waiting in each queue. Raises when the broker cannot be reached."""
    queues = list(queues)
    if is_amqp(url):
        return _amqp_probe(url).depths(queues)
    from .latency import redis_client

    pipe = redis_client(url).pipeline(transaction=False)
    for queue in queues:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    lengths = pipe.execute()
    step = len(PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step : (i + 1) * step]) for i, queue in enumerate(queues)}


class AmqpProbe:
    """One connection and channel to RabbitMQ for passive declares, opened on first use and reopened after a
    failure. A lock: the listener's batcher thread and a web process's scrapes may share it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.connection: Connection | None = None
        self.channel: amqp.Channel | None = None
        self.pid = os.getpid()

    def depths(self, queues: list[str]) -> dict[str, int]:
        with self.lock:
            if self.pid != os.getpid():  # a forked child must not talk on its parent's socket
                self.connection = self.channel = None
                self.pid = os.getpid()
            try:
                return {queue: self._depth(queue) for queue in queues}
            except (OSError, amqp.exceptions.AMQPError):
                # A connection that died while idle (broker restart, NAT timeout): one fresh attempt.
                self.close()
                return {queue: self._depth(queue) for queue in queues}

    def _depth(self, queue: str) -> int:
        channel = self._channel()
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
            assert declared is not None  # a passive declare always answers
            _name, count, _consumers = declared
            return int(count)
        except amqp.exceptions.NotFound:
            self.channel = None  # the broker closes the channel on a miss
            return 0  # not declared yet: no worker or sender has used it, so nothing waits

    def _channel(self) -> amqp.Channel:
        if self.connection is None:
            self.connection = Connection(
                self.url,
                connect_timeout=PROBE_TIMEOUT,
                heartbeat=0,
                transport_options={"read_timeout": PROBE_TIMEOUT, "write_timeout": PROBE_TIMEOUT},
            )
        if self.channel is None:
            self.channel = cast(amqp.Channel, self.connection.channel())  # kombu's pyamqp transport
        return self.channel

    def close(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already broken: nothing to release
                logger.debug("closing a broken RabbitMQ probe connection", exc_info=True)


_probes: dict[str, AmqpProbe] = {}
_probes_lock = threading.Lock()


def _amqp_probe(url: str) -> AmqpProbe:
    with _probes_lock:
        if url not in _probes:
            _probes[url] = AmqpProbe(url)
        return _probes[url]


# --- Redis durability ------------------------------------------------------------------------------------
@dataclass
class Durability:
    """What a Redis broker keeps: persistence "aof", "rdb", "none" or "unknown"; the eviction policy or
    "unknown"; and one sentence per way it could lose queued batches."""

    persistence: str = "unknown"
    maxmemory_policy: str = "unknown"
    warnings: list[str] = field(default_factory=list)


def redis_durability(url: str, timeout: float = PROBE_TIMEOUT) -> Durability:
    """Read the broker Redis's persistence and eviction settings. INFO gives appendonly and the eviction policy
    and is allowed on managed Redis that refuse CONFIG; only the snapshot schedule needs CONFIG GET save.
    Raises redis.RedisError when Redis cannot be reached."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = _info(client)
        save = _config(client, "save")
        aof = info.get("aof_enabled")
        if aof is None and (appendonly := _config(client, "appendonly")) is not None:
            aof = int(appendonly == "yes")
        policy = info.get("maxmemory_policy") or _config(client, "maxmemory-policy")
    finally:
        client.close()
    result = Durability(maxmemory_policy=str(policy or "unknown"))
    if aof is not None and int(aof):
        result.persistence = "aof"
    elif aof is not None and save is not None:
        result.persistence = "rdb" if save.strip() else "none"
    result.warnings = durability_warnings(result)
    return result


def durability_warnings(found: Durability) -> list[str]:
    warnings = []
    if found.persistence == "none":
        warnings.append(
            "the broker's Redis keeps nothing on disk (appendonly no, save ''): a restart loses every queued batch"
        )
    elif found.persistence == "rdb":
        warnings.append(
            "the broker's Redis only takes snapshots (appendonly no): a crash loses the batches queued since the last"
        )
    elif found.persistence == "unknown":
        warnings.append("the broker's Redis persistence is unknown (CONFIG and INFO refused): set appendonly yes")
    if found.maxmemory_policy == "unknown":
        warnings.append("the broker's Redis eviction policy is unknown: it must be maxmemory-policy noeviction")
    elif found.maxmemory_policy != "noeviction":
        warnings.append(
            f"the broker's Redis evicts keys when full (maxmemory-policy {found.maxmemory_policy}): queued batches"
            " can be dropped; set noeviction"
        )
    return warnings


def _info(client: redis.Redis) -> dict:
    try:
        return dict(client.info("persistence")) | dict(client.info("memory"))
    except redis.ResponseError:  # INFO renamed or refused
        return {}


def _config(client: redis.Redis, name: str) -> str | None:
    try:
        value = client.config_get(name)
    except redis.ResponseError:  # CONFIG disabled or renamed (managed Redis)
        return None
    return value.get(name) if value else None


def status(url: str, queues: Iterable[str], timeout: float = PROBE_TIMEOUT) -> dict:
    """The broker for /api/health: {"kind", "ok", "error", "queues", and for Redis "persistence",
    "maxmemory_policy", "warnings"}."""
    result: dict = {"kind": kind(url), "ok": True, "error": "", "queues": None, "warnings": []}
    try:
        result["queues"] = queue_depths(url, queues)
        if not is_amqp(url):
            found = redis_durability(url, timeout)
            result |= {
                "persistence": found.persistence,
                "maxmemory_policy": found.maxmemory_policy,
                "warnings": found.warnings,
            }
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        logger.warning("health: the broker check failed: %s", exc)
        result |= {"ok": False, "error": exc.__class__.__name__}
    return result
