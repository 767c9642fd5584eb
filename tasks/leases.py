"""Leases on the messages a worker holds, for the Redis broker.

kombu's Redis transport keeps every delivered, unacknowledged message in a sorted set scored by its delivery
time, and any worker puts a message back in its queue once that score is older than the visibility timeout.
That timeout alone must choose between two harms: short, and a slow batch is delivered a second time while it
runs; long, and a killed worker's batch waits that long. Here a thread of the worker's main process re-scores
the messages the worker still holds every third of the timeout, so only a dead worker's messages age past
it: the timeout can be short (CELERY_VISIBILITY_TIMEOUT) without touching a running batch.
RabbitMQ needs none of this: it redelivers a dead consumer's messages as soon as its connection drops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis
from celery.signals import worker_ready, worker_shutdown

from mqtt_app.observability.latency import redis_client

logger = logging.getLogger(__name__)

# kombu.transport.redis.Channel.unacked_index_key (the transport's default, which this product keeps).
UNACKED_INDEX = "unacked_index"


def held_tags() -> list[str]:
    """The delivery tags of the messages this worker has reserved (running or waiting for a pool process)."""
    from celery.worker import state

    for _ in range(5):
        try:
            requests = list(state.requests.values())
            break
        except RuntimeError:  # the consumer changed the dict meanwhile: read it again
            continue
    else:
        return []
    tags = []
    for request in requests:
        message = getattr(request, "message", None)
        tag = getattr(message, "delivery_tag", None)
        if tag:
            tags.append(str(tag))
    return tags


def renew(client: redis.Redis, tags: Iterable[str], key: str = UNACKED_INDEX) -> int:
    """Re-score the tags still in the unacked index (XX: an acknowledged message is not brought back)."""
    now = time.time()
    mapping = dict.fromkeys(tags, now)
    if not mapping:
        return 0
    return int(client.zadd(key, mapping, xx=True, ch=True) or 0)


class LeaseKeeper:
    def __init__(self, broker_url: str, visibility_timeout: float, key: str = UNACKED_INDEX) -> None:
        self.client = redis_client(broker_url)
        self.every = max(1.0, visibility_timeout / 3)
        self.key = key
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="broker-leases", daemon=True)

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                renew(self.client, held_tags(), self.key)
            except redis.RedisError as exc:  # Redis away: nothing can be redelivered meanwhile either
                logger.debug("could not renew message leases: %s", exc)


_keeper: LeaseKeeper | None = None


def uses_redis_broker(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


@worker_ready.connect
def _start(sender=None, **_: object) -> None:  # noqa: ANN001 - Celery's signal signature
    global _keeper
    app = sender.app if sender is not None else None
    if app is None:
        return
    url = str(app.conf.broker_url or "")
    if not uses_redis_broker(url) or _keeper is not None:
        return
    options = app.conf.broker_transport_options or {}
    prefix = options.get("global_keyprefix", "")
    _keeper = LeaseKeeper(url, float(options.get("visibility_timeout", 3600)), f"{prefix}{UNACKED_INDEX}")
    _keeper.thread.start()


@worker_shutdown.connect
def _stop(**_: object) -> None:
    if _keeper is not None:
        _keeper.stopped.set()
