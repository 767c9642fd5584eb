"""A receipt for every batch, from the listener's send to the worker's commit (Redis broker).

kombu's Redis transport takes a message off the queue (BRPOP) before it records it as unacknowledged; a worker
killed in between takes the batch with it, and nothing in the broker remembers it. So the listener keeps a copy
of each batch it sends, in the broker's Redis (`put`, just before the send), and the worker drops the copy once
the batch is stored (`done`). A copy older than `REAP_AFTER` whose batch is neither stored, nor waiting in the
queue, nor held by a live worker was lost on the way: a listener sends it again (`reap`, under a lock, so one
listener at a time). The copy keeps the batch's id, so a batch sent twice is stored once.
RabbitMQ needs none of this: it hands a message to a consumer and forgets it only on the consumer's ack.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

import msgpack
import redis
from django.conf import settings

from mqtt_app.observability.latency import redis_client

logger = logging.getLogger(__name__)

REAP_AFTER = 30.0  # seconds: longer than a batch waits in an empty queue plus its storing
REAP_LIMIT = 200
UNACKED = "unacked"  # kombu.transport.redis.Channel.unacked_key
Also = Callable[[redis.client.Pipeline], None]


def enabled() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://", "unix://"))


def keys() -> tuple[str, str, str]:
    prefix = f"{settings.REDIS_KEY_PREFIX}:outbox"
    return f"{prefix}:sent", f"{prefix}:batches", f"{prefix}:reaping"


def client() -> redis.Redis:
    """The broker's Redis (the copies share the queue's fate), through the process's pooled client per URL."""
    return redis_client(str(settings.CELERY_BROKER_URL))


def put(batch: dict, also: Also | None = None) -> None:
    """Keep a copy of the batch until a worker stored it (with `also`'s commands in the same transaction).
    Raises when Redis is away (the send would fail too)."""
    index, bodies, _ = keys()
    pipe = client().pipeline(transaction=True)
    pipe.hset(bodies, batch["id"], msgpack.packb(batch, use_bin_type=True))
    pipe.zadd(index, {batch["id"]: time.time()})
    if also:
        also(pipe)
    pipe.execute()


def forget(batch: dict, also: Also | None = None) -> None:
    """Undo `put` for a batch the queue did not take and that stays with the listener (best effort)."""
    index, bodies, _ = keys()
    try:
        pipe = client().pipeline(transaction=True)
        pipe.zrem(index, batch["id"])
        pipe.hdel(bodies, batch["id"])
        if also:
            also(pipe)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not undo the outbox copy of batch %s: %s", batch["id"], exc)


def done(batch_id: str) -> None:
    """The batch is stored (or can never be): its copy goes. Best effort: a copy left behind is found stored."""
    index, bodies, _ = keys()
    try:
        pipe = client().pipeline(transaction=False)
        pipe.zrem(index, batch_id)
        pipe.hdel(bodies, batch_id)
        pipe.execute()
    except redis.RedisError as exc:
        logger.debug("could not drop the outbox copy of batch %s: %s", batch_id, exc)


def reap(
    resend: Callable[[dict], None],
    stored: Callable[[list[str]], set[str]],
    waiting: Callable[[], int | None],
    now: float | None = None,
) -> int:
    """Send again the batches lost between the queue and a worker; returns how many."""
    index, bodies, lock = keys()
    redis_client = client()
    now = time.time() if now is None else now
    found = redis_client.zrangebyscore(index, 0, now - REAP_AFTER, start=0, num=REAP_LIMIT)
    old = [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in found]
    if not old or not redis_client.set(lock, "1", nx=True, ex=int(REAP_AFTER)):
        return 0
    depth = waiting()
    if depth is None or depth > 1:
        return 0  # batches wait in the queue: an old copy may be one of them
    finished = stored(old)
    held = held_task_ids(redis_client)
    sent = 0
    for batch_id in old:
        if batch_id in finished:
            done(batch_id)
            continue
        if batch_id in held:
            continue  # a live worker has it (its lease keeps it)
        body = redis_client.hget(bodies, batch_id)
        if body is None:
            redis_client.zrem(index, batch_id)
            continue
        resend(msgpack.unpackb(body, raw=False))
        redis_client.zadd(index, {batch_id: now})
        sent += 1
    if sent:
        logger.warning("%d batches were lost between the queue and a worker: sent again", sent)
    return sent


def held_task_ids(redis_client: redis.Redis) -> set[str]:
    """The task ids of the messages workers hold unacknowledged (kombu keeps them as JSON [message, ...])."""
    ids = set()
    for raw in redis_client.hvals(UNACKED):
        try:
            ids.add(str(json.loads(raw)[0]["headers"]["id"]))
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    return ids


def stored_batches(ids: Iterable[str], claimed: bool = False) -> set[str]:
    """The batches among `ids` that a worker stored whole (a batch's first part has the batch's id, committed with
    every other part), and with `claimed` also those it took to store split (their parts follow that claim)."""
    from mqtt_app.models import IngestBatch

    rows = IngestBatch.objects.filter(id__in=list(ids))
    return {str(pk) for pk in (rows if claimed else rows.filter(split=False)).values_list("id", flat=True)}
