"""Queued QoS 1 messages whose PUBACK the site's broker may not have read, recorded in Redis, so that a listener
taking over a connection after a crash acknowledges the copies the broker sends again instead of queueing them
twice.

Each listener process keeps a hash `<prefix>:inflight:<process>` with one field per connection and batch: the
packet ids of the connection's QoS 1 messages in the batch and a CRC-32 of each payload, packed. When a batch's
field is written:
- Redis broker: in the same transaction as its outbox copy, so a record always has a batch that will be stored;
- RabbitMQ: just before the publish, so a kill while it waits for the confirm leaves one; as the publish may
  not have reached the queue, such a record is trusted only once its batch is stored.
When it is deleted (the service's `_send_acks`):
- A PUBACK written just before the process dies is not enough: the kernel resets a killed process's connections,
  and the broker drops what it had not read yet (Mosquitto does), so it sends those messages again.
- A record must not outlive the broker's reading of its PUBACK for long either: the broker may then reuse the
  packet id for a new message, and a copy of that one, with the same payload, would be taken for a copy of the
  old one and lost.
- So on a connection whose packet ids have run in sequence through 65,535 and on since it connected (the broker
  reuses an id only 65,535 messages later; Mosquitto numbers so), the PUBACKs are followed by a PINGREQ and the
  record stays until its PINGRESP: the broker handles a connection's packets in order, so by then it has read
  the PUBACKs. It is deleted before any later PUBACK is written, long before the id can come again.
- Elsewhere (ids reused sooner, or not yet seen to run in sequence) it is deleted just before the PUBACKs: a kill
  in the instant before the broker reads them may still store a few messages twice, never lose one.
- Should a deletion fail (Redis away), the process's whole hash goes at its next write: a takeover may then store
  a batch twice, but never finds a record older than its acknowledgement.
A session that resumes the connection takes (reads and deletes) the other processes' records; a DUP-flagged
PUBLISH whose packet id and payload match one was queued already. Packing per batch keeps the cost off the
per-message path: no Redis field, and no Python loop, per message.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING

import redis
from django.conf import settings

from mqtt_app import outbox
from mqtt_app.observability.latency import redis_client

if TYPE_CHECKING:
    from .batcher import Chunk

logger = logging.getLogger(__name__)

# A process's records go this long after its last write: past any takeover that could use them.
TTL = 3600
# After a Redis error the records are left alone this long: a Redis that hangs must not hold the loop for its
# timeout at every batch or connect (meanwhile a takeover may store a batch twice, the at-least-once of QoS 1).
PAUSE = 5.0

Records = dict[int, bytes]  # connection → packed packet ids and payload CRCs of one batch


def pack(mids: list[int], payloads: list[bytes]) -> bytes:
    return array("H", mids).tobytes() + array("I", map(zlib.crc32, payloads)).tobytes()


def unpack(value: bytes) -> dict[int, int]:
    """Packet id → payload CRC-32."""
    count = len(value) // 6
    mids, crcs = array("H"), array("I")
    mids.frombytes(value[: 2 * count])
    crcs.frombytes(value[2 * count : 6 * count])
    return dict(zip(mids, crcs, strict=True))


def records(parts: Iterable[tuple[int, list[Chunk]]]) -> Records:
    """The QoS 1 messages of a batch's parts, per connection."""
    found: Records = {}
    for cid, chunks in parts:
        mids: list[int] = []
        payloads: list[bytes] = []
        for chunk in chunks:
            if chunk.qos.count(1) == len(chunk.qos):  # the usual case: all QoS 1
                mids += chunk.mids
                payloads += chunk.payloads
            else:
                keep = [i for i, qos in enumerate(chunk.qos) if qos == 1]
                mids += [chunk.mids[i] for i in keep]
                payloads += [chunk.payloads[i] for i in keep]
        if mids:
            found[cid] = pack(mids, payloads)
    return found


def client() -> redis.Redis:
    """The broker's Redis with the Redis broker (the records share a transaction with the outbox copy), else
    the coordination Redis."""
    return outbox.client() if outbox.enabled() else redis_client(settings.REDIS_URL)


def _processes() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:inflight"


class Inflight:
    """One listener process's records: one hash, a field per connection and batch (three commands a batch)."""

    def __init__(self) -> None:
        self.process = uuid.uuid4().hex[:16]  # not the listener id: a restarted listener keeps its id
        self.key = self.key_of(self.process)
        self.paused_until = 0.0
        self.wipe = False  # a deletion failed: the whole hash goes at the next write

    def _usable(self) -> bool:
        return time.monotonic() >= self.paused_until

    def _wipe_first(self, pipe: redis.client.Pipeline) -> None:
        if self.wipe:
            pipe.delete(self.key)

    def _failed(self, what: str, exc: Exception) -> None:
        self.paused_until = time.monotonic() + PAUSE
        logger.warning("%s (%s): records paused for %.0f s; a takeover may store a batch twice", what, exc, PAUSE)

    @staticmethod
    def key_of(process: str) -> str:
        return f"{_processes()}:{process}"

    def add(self, pipe: redis.client.Pipeline, batch_id: str, found: Records) -> None:
        self._wipe_first(pipe)
        pipe.hset(self.key, mapping={f"{cid}:{batch_id}": packed for cid, packed in found.items()})
        pipe.expire(self.key, TTL)
        pipe.sadd(_processes(), self.process)

    def drop(self, pipe: redis.client.Pipeline, batch_id: str, cids: Iterable[int]) -> None:
        fields = [f"{cid}:{batch_id}" for cid in cids]
        if fields:
            pipe.hdel(self.key, *fields)

    def write(self, batch_id: str, found: Records) -> bool:
        """Record a batch about to be published without an outbox copy (RabbitMQ). A failure leaves the
        at-least-once window open."""
        if not self._usable():
            return False
        try:
            pipe = client().pipeline()
            self.add(pipe, batch_id, found)
            pipe.execute()
        except redis.RedisError as exc:
            self._failed("could not record a queued batch", exc)
            return False
        return True

    def release(self, batch_id: str, cids: Iterable[int]) -> bool:
        """Delete a batch's records (one that was not queued after all)."""
        return self.release_fields([f"{cid}:{batch_id}" for cid in cids])

    def release_fields(self, fields: list[str]) -> bool:
        """Delete records ("<connection>:<batch>"); after a failure, the whole hash (wiping it loses nothing:
        at worst a takeover stores a batch twice)."""
        if not fields:
            return True
        if not self._usable():
            self.wipe = True
            return False
        try:
            if self.wipe:
                client().delete(self.key)
                self.wipe = False
            else:
                client().hdel(self.key, *fields)
        except redis.RedisError as exc:
            self.wipe = True
            self._failed(f"could not delete {len(fields)} records", exc)
            return False
        return True

    def take(self, cid: int) -> dict[int, tuple[int, str]]:
        """The other processes' records of a connection (packet id → (payload CRC-32, batch id)), deleted as they
        are read: from here on this process alone knows them, and acknowledges their copies."""
        found: dict[int, tuple[int, str]] = {}
        prefix = f"{cid}:".encode()
        if not self._usable():
            return found
        try:
            store = client()
            for raw in store.smembers(_processes()):
                process = raw.decode() if isinstance(raw, bytes) else str(raw)
                if process == self.process:
                    continue
                entries: dict[bytes, bytes] = store.hgetall(self.key_of(process))  # type: ignore[assignment]
                if not entries:
                    store.srem(_processes(), process)  # expired: a process long gone
                    continue
                mine = [field for field in entries if field.startswith(prefix)]
                if mine:
                    store.hdel(self.key_of(process), *mine)
                for field in mine:
                    batch_id = field.decode().split(":", 1)[1]
                    found |= {mid: (crc, batch_id) for mid, crc in unpack(entries[field]).items()}
        except redis.RedisError as exc:
            self._failed(f"connection {cid}: could not read what a previous session queued", exc)
        return found
