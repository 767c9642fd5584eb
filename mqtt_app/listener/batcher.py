"""Raw messages → `tasks.ingest.ingest_batch`, acknowledged to the broker only once the batch is in Redis.

The loop thread calls `add_chunks()` once per loop round (a lock and list appends, nothing per message).
Messages travel in `Chunk`s: columns of the messages one read brought. The batcher thread sends ONE batch
for all the connections the listener holds (a part per connection, at most MQTT_BATCH_SIZE messages in all)
when MQTT_BATCH_SIZE messages wait, or one connection has MQTT_ACK_WINDOW unacknowledged ones (the broker's
in-flight limit is per client), or the oldest message is MQTT_BATCH_INTERVAL old; then it hands the QoS 1/2
acknowledgements back to the loop thread, which writes each client's in one go. One batch across connections
rather than one per connection: the worker's cost is mostly per batch, so ten quiet connections no longer
make ten small batches. If Redis is unreachable nothing is acked (the broker keeps
the messages: back-pressure) and sending is retried with a growing delay. The buffer is
bounded: at MQTT_LISTENER_MAX_BUFFER messages the loop stops reading its sockets (`full`; TCP back-pressure,
the brokers keep what they have not sent) until batches leave; QoS 0 messages past the bound are dropped
(counted), QoS 1/2 ones are never dropped (a read in progress may pass the bound by its own size).

Status and activity tasks leave through the same thread (the `control` queue), so one thread owns
every Celery send of the listener and an unreachable Redis stalls nothing else.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings

from mqtt_app import outbox
from mqtt_app.ingest.wire import encode_batch, encode_part
from mqtt_app.observability.broker import queue_depths

from . import inflight
from .inflight import Inflight
from .spool import Spool

logger = logging.getLogger(__name__)

INGEST_TASK = "tasks.ingest.ingest_batch"
INGEST_QUEUE = "ingest"
# Batches waiting in Redis, read after each send, that mean the workers are behind: batches step up a size.
# Two: the batch just sent plus one more (workers take one batch per process: CELERY_WORKER_PREFETCH_MULTIPLIER
# is 1, so what waits is visible here rather than reserved out of sight).
STEP_UP_BACKLOG = 2
# msgpack carries payloads as raw bytes: no base64 and a far cheaper encoding than JSON (the worker must
# accept it: CELERY_ACCEPT_CONTENT). Control tasks keep the default serializer.
BATCH_SERIALIZER = "msgpack"
MAX_CONTROL_BACKLOG = 20_000


@dataclass(slots=True)
class Chunk:
    """Messages of one connection that arrived together (one read, one connection generation), in columns:
    the batch's wire form is columns too, so building it is list concatenation, not work per message."""

    generation: int
    received_at: float
    topics: list[str]
    payloads: list[bytes]
    qos: list[int]
    retain: list[bool]
    mids: list[int]  # the packet id of each message (0 for QoS 0)
    # The size of each payload as received, when one was too large and replaced by b"" (None: none was).
    sizes: list[int] | None = None

    def __len__(self) -> int:
        return len(self.mids)

    def unacked(self) -> int:
        return len(self.mids) - self.mids.count(0)

    def split(self, n: int) -> tuple[Chunk, Chunk]:
        """The first n messages, and the rest."""
        return self._part(slice(None, n)), self._part(slice(n, None))

    def _part(self, part: slice) -> Chunk:
        sizes = None if self.sizes is None else self.sizes[part]
        return Chunk(
            self.generation,
            self.received_at,
            self.topics[part],
            self.payloads[part],
            self.qos[part],
            self.retain[part],
            self.mids[part],
            sizes,
        )

    def without_qos0(self) -> Chunk:
        keep = [i for i, mid in enumerate(self.mids) if mid]
        sizes = None if self.sizes is None else [self.sizes[i] for i in keep]
        return Chunk(self.generation, self.received_at, [self.topics[i] for i in keep],
                     [self.payloads[i] for i in keep], [self.qos[i] for i in keep], [self.retain[i] for i in keep],
                     [self.mids[i] for i in keep], sizes)  # fmt: skip

    def joined(self, other: Chunk) -> Chunk:
        """This chunk followed by `other` (of the same read)."""
        sizes = None
        if self.sizes is not None or other.sizes is not None:
            sizes = (self.sizes or list(map(len, self.payloads))) + (other.sizes or list(map(len, other.payloads)))
        return Chunk(self.generation, self.received_at, self.topics + other.topics, self.payloads + other.payloads,
                     self.qos + other.qos, self.retain + other.retain, self.mids + other.mids, sizes)  # fmt: skip

    def nbytes(self) -> int:
        return sum(map(len, self.payloads))

    def drop_oversized(self, limit: int) -> int:
        """Replace payloads over `limit` bytes by b"" (their sizes kept): such a payload is counted on its topic
        by the worker but never carried to the queue. Returns how many were dropped."""
        if max(map(len, self.payloads), default=0) <= limit:
            return 0
        self.sizes = sizes = list(map(len, self.payloads))
        self.payloads = [b"" if size > limit else payload for payload, size in zip(self.payloads, sizes, strict=True)]
        return sum(size > limit for size in sizes)

    def acks(self) -> list[tuple[int, list[int]]]:
        """(qos, packet ids) of the messages that need an acknowledgement."""
        if self.qos.count(1) == len(self.qos):
            return [(1, self.mids)]  # the usual case: all QoS 1
        return [(q, [m for m, mq in zip(self.mids, self.qos, strict=True) if mq == q]) for q in (1, 2) if q in self.qos]


def chunk_of(generation: int, messages: list[Any], now: float) -> Chunk:
    """A chunk from paho MQTTMessage objects (paho's own path: QoS 2, and anything the fast reader leaves it)."""
    topics = []
    for message in messages:
        try:
            topics.append(message.topic)
        except UnicodeDecodeError:  # a broker that lets an invalid topic through: keep it, visibly
            topics.append(message._topic.decode("utf-8", "backslashreplace"))  # noqa: SLF001
    return Chunk(
        generation,
        now,
        topics,
        [bytes(m.payload) for m in messages],
        [m.qos for m in messages],
        [bool(m.retain) for m in messages],
        [m.mid if m.qos else 0 for m in messages],
    )


@dataclass
class Buffer:
    """One connection's waiting messages."""

    chunks: list[Chunk] = field(default_factory=list)
    unacked: int = 0  # QoS 1/2 messages waiting: the broker stops sending at its in-flight limit


Ack = tuple[int, int, int, list[int]]  # connection id, generation, qos, packet ids


class Acks(list[Ack]):
    """A sent batch's acknowledgements, and its records per connection (inflight.py), when they were written."""

    batch: str = ""
    records: inflight.Records = {}  # noqa: RUF012 - set per instance, never mutated

    @property
    def recorded(self) -> tuple[int, ...]:
        return tuple(self.records)


SendTask = Callable[..., Any]


def default_sender() -> SendTask:
    from project.celery import app

    # A send must fail at once while the broker is away (the batcher spools, or holds, and probes again within a
    # second); kombu would otherwise re-connect inside every call for up to broker_connection_timeout, and the
    # batcher, stuck there, would neither spool nor acknowledge.
    options = dict(app.conf.broker_transport_options or {})
    options.update(max_retries=0, socket_connect_timeout=2)
    app.conf.broker_transport_options = options
    return app.send_task


Backlog = Callable[[], int | None]


def default_backlog() -> Backlog:
    """Batches waiting in the broker for a worker (the ingest queue's depth, as /metrics reports it, on Redis or
    RabbitMQ), None when it cannot be read (the broker away)."""

    def backlog() -> int | None:
        try:
            return queue_depths(settings.CELERY_BROKER_URL, [INGEST_QUEUE])[INGEST_QUEUE]
        except Exception:  # noqa: BLE001 - only a sizing hint: the send itself reports Redis trouble
            return None

    return backlog


class Batcher:
    def __init__(
        self,
        listener_id: str,
        on_acks: Callable[[Acks], None],
        send_task: SendTask | None = None,
        backlog: Backlog | None = None,
        spool: Spool | None = None,
        inflight: Inflight | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.monotonic = monotonic  # the clocks, injectable so that tests drive time rather than wait for it
        self.wall = wall
        self.listener_id = listener_id
        self.on_acks = on_acks
        self.send_task = send_task or default_sender()
        self.outbox = send_task is None and outbox.enabled()  # a receipt per batch (Redis broker)
        self.inflight = inflight  # records of what was queued and not yet acknowledged, for a takeover
        self.recorded = False  # the last delivered batch's records were written
        # Batch size adapts to the workers, in steps: MQTT_BATCH_SIZE / MQTT_BATCH_INTERVAL while they keep up,
        # doubled for each send that finds batches waiting in Redis, up to MQTT_BATCH_SIZE_BUSY /
        # MQTT_BATCH_INTERVAL_BUSY, and halved again for each send that finds the queue empty: a worker's cost is
        # largely per batch, so small batches on a machine short of CPU would themselves keep the workers behind;
        # when they keep up, latency matters more and batches stay small (figures: docs/benchmarks.md).
        self.base_size = int(settings.MQTT_BATCH_SIZE)
        self.busy_size = max(self.base_size, int(getattr(settings, "MQTT_BATCH_SIZE_BUSY", self.base_size)))
        self.backlog = backlog or (default_backlog() if send_task is None else (lambda: None))
        self.last_sent = 0.0
        self.base_interval = float(settings.MQTT_BATCH_INTERVAL)
        self.busy_interval = max(self.base_interval, float(getattr(settings, "MQTT_BATCH_INTERVAL_BUSY", 0.1)))
        self.top_level = _levels(self.base_size, self.busy_size, self.base_interval, self.busy_interval)
        self.level = 0
        self.behind = False  # at the busy bounds since last at the normal ones (what INFO lines report)
        self.batch_size, self.interval = self.base_size, self.base_interval
        self.max_buffer = int(getattr(settings, "MQTT_LISTENER_MAX_BUFFER", max(10 * self.batch_size, 5000)))
        self.max_payload = int(settings.MQTT_MAX_PAYLOAD_BYTES)
        self.max_batch_bytes = int(settings.MQTT_BATCH_MAX_BYTES)
        self.max_backlog = int(settings.MQTT_INGEST_MAX_BACKLOG)
        self.spool = spool
        self.queue_full = False  # the ingest queue is over MQTT_INGEST_MAX_BACKLOG: batches go to the spool
        self.spool_full = False
        # The broker's in-flight window (Mosquitto: max_inflight_messages, default 20). Once that many
        # messages wait for their ack the broker sends nothing more, so waiting for the batch interval
        # would cap a connection at window/interval messages a second: send at once instead.
        self.window = int(getattr(settings, "MQTT_ACK_WINDOW", 20))
        self.buffers: dict[int, Buffer] = {}
        self.generations: dict[int, int] = {}  # per connection: the session whose redelivery replaced older ones
        self.buffered = 0
        self.buffered_bytes = 0
        self.first_at = 0.0  # monotonic time of the oldest message waiting (any connection)
        self.window_full = False  # a connection reached its in-flight window: send now
        self.whole_only = False  # this flush was for size alone: send whole batches, keep the remainder
        self.control: list[tuple[str, list, dict]] = []
        self.cond = threading.Condition()
        self.stopping = False
        self.redis_ok = True
        self.retry_at = 0.0
        self.hold_until = 0.0
        self.backlog_check_at = 0.0
        self.backoff = 0.2
        self.stats = {
            "batches": 0,
            "messages": 0,
            "dropped_qos0": 0,
            "send_failures": 0,
            "oversized": 0,
            "spooled": 0,
            "replayed": 0,
        }
        self.thread = threading.Thread(target=self.run, name="mqtt-batcher", daemon=True)

    # --- producer side (loop thread and control thread) -----------------------------------------
    def add_chunks(self, received: list[tuple[int, Chunk]]) -> int:
        """Buffer what one loop iteration read (one lock round for all of it). Returns how many messages
        were kept; the rest were dropped because the buffer is full."""
        kept = 0
        with self.cond:
            before = self.buffered
            for cid, chunk in received:
                count = len(chunk)
                room = self.max_buffer - self.buffered
                if count > room:
                    chunk = self._bounded(chunk, room)
                    count = len(chunk)
                    if not count:
                        continue
                self.stats["oversized"] += chunk.drop_oversized(self.max_payload)
                buffer = self.buffers.get(cid)
                if buffer is None:
                    buffer = self.buffers[cid] = Buffer()
                if not self.buffered:
                    self.first_at = self.monotonic()
                if not self.buffered and self.level:
                    self._calm_down()
                buffer.chunks.append(chunk)
                self.buffered += count
                self.buffered_bytes += chunk.nbytes()
                kept += count
                unacked = chunk.unacked()
                if unacked:
                    buffer.unacked += unacked
                    self.window_full = self.window_full or buffer.unacked >= self.window
            full = before < self.batch_size <= self.buffered or self.buffered_bytes >= self.max_batch_bytes
            if kept and (not before or self.window_full or full):
                self.cond.notify()
        return kept

    def add_many(self, received: list[tuple[int, int, Any]]) -> int:  # noqa: ANN401 - MQTTMessage-like
        """`add_chunks` for (connection id, generation, message) triples: consecutive messages of one
        connection and generation share a chunk."""
        now = self.wall()
        chunks = [
            (cid, chunk_of(generation, [m for _, _, m in group], now))
            for (cid, generation), group in itertools.groupby(received, key=lambda item: item[:2])
        ]
        return self.add_chunks(chunks)

    def drop_stale(self, connection_id: int, generation: int) -> int:
        """Forget the waiting QoS 1/2 messages of the connection's sessions before `generation`: the broker
        resumed the session and sends them again. Chunks of those sessions that are being sent now, or come
        back from a failed send, are dropped too (`_put_back`). Returns how many messages were dropped."""
        with self.cond:
            self.generations[connection_id] = generation
            buffer = self.buffers.get(connection_id)
            if buffer is None:
                return 0
            stale = [c for c in buffer.chunks if c.generation < generation and c.unacked()]
            if not stale:
                return 0
            buffer.chunks = [c for c in buffer.chunks if c not in stale]
            self._forget(buffer, stale)
            if not buffer.chunks:
                del self.buffers[connection_id]
            return sum(len(c) for c in stale)

    def _forget(self, buffer: Buffer, chunks: list[Chunk]) -> None:
        buffer.unacked -= sum(c.unacked() for c in chunks)
        self.buffered -= sum(len(c) for c in chunks)
        self.buffered_bytes -= sum(c.nbytes() for c in chunks)

    def _bounded(self, chunk: Chunk, room: int) -> Chunk:
        """What of `chunk` the buffer keeps with `room` left: the first `room` messages, and of the rest every
        QoS 1/2 one (the broker counts on it: it was read, so it cannot be left with the broker any more)."""
        kept, rest = chunk.split(max(room, 0))
        acked = rest.without_qos0()
        self.stats["dropped_qos0"] += len(rest) - len(acked)
        return kept.joined(acked) if len(acked) else kept

    @property
    def full(self) -> bool:
        """The buffer holds its bound: the loop reads no socket until batches leave (TCP back-pressure)."""
        return self.buffered >= self.max_buffer

    def enqueue_control(self, task: str, args: list, kwargs: dict | None = None) -> None:
        with self.cond:
            self.control.append((task, args, kwargs or {}))
            del self.control[:-MAX_CONTROL_BACKLOG]  # Redis down for long: keep the newest
            self.cond.notify()

    def flush_control(self) -> None:
        """Send the queued status/control tasks now, from the calling thread (used once the thread stopped)."""
        with self.cond:
            control, self.control = self.control, []
        self._send({}, control)

    # --- the batcher thread ---------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(timeout)

    def run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait(self._wait_time(self.monotonic()))
                stopping = self.stopping
                due, control = self._take_due(self.monotonic(), flush_all=stopping)
            self._send(due, control)
            if stopping:
                return

    def _due(self, now: float) -> bool:
        return (
            self.buffered >= self.batch_size
            or self.window_full
            or now - self.first_at >= self.interval
            or self.buffered_bytes >= self.max_batch_bytes
        )

    def _wait_time(self, now: float) -> float:
        if self.stopping:
            return 0
        wake = [self._replay_at(), now + 1.0]
        if self.control:
            wake.append(now if self.redis_ok else self.retry_at)
        if self.buffers:
            held = now < self.hold_until or (not self.redis_ok and not self._spooling())
            if held:
                wake.append(max(self.hold_until, self.retry_at if not self.redis_ok else 0.0))
            else:
                wake.append(now if self._due(now) else self.first_at + self.interval)
        return max(0.0, min(wake) - now)

    def _take_due(self, now: float, flush_all: bool) -> tuple[dict[int, list[Chunk]], list]:
        """Every connection's messages at once when a bound is reached (sent as one or more batches). When
        only the size bound is reached, `self.whole_only` tells `_send` to keep a remainder smaller than a
        batch for the next one: at high rates a flush found 520 messages and sent 500 + 20, and every batch
        costs the worker a transaction."""
        waiting_for_queue = not self.redis_ok and now < self.retry_at and not self._spooling()
        if not flush_all and (now < self.hold_until or waiting_for_queue):
            return {}, self._take_control()
        due: dict[int, list[Chunk]] = {}
        if self.buffers and (flush_all or self._due(now)):
            aged = now - self.first_at >= self.interval or self.buffered_bytes >= self.max_batch_bytes
            self.whole_only = not (flush_all or self.window_full or aged)
            due = {cid: buffer.chunks for cid, buffer in self.buffers.items()}
            self.buffers, self.buffered, self.buffered_bytes, self.window_full = {}, 0, 0, False
        return due, self._take_control()

    def _take_control(self) -> list:
        control, self.control = self.control, []
        return control

    def _send(self, due: dict[int, list[Chunk]], control: list) -> None:
        self._replay(self.monotonic())
        while due:
            if self.whole_only and sum(len(c) for chunks in due.values() for c in chunks) < self.batch_size:
                self._put_back(due)  # the start of the next batch, sent when it fills or ages
                break
            parts, rest = _next_parts(due, self.batch_size, self.max_batch_bytes)
            batch = self._batch(parts)
            found = inflight.records(parts) if self.inflight else {}
            if not self._deliver(batch, found):
                self._hold(due)  # neither the queue nor the spool took it: the brokers keep it, unacknowledged
                break
            # Sent or spooled: from here on a failure must not put these messages back (they would be sent twice).
            due = rest
            self.stats["messages"] += sum(len(c) for _, chunks in parts for c in chunks)
            self.stats["batches"] += 1
            acks = _acks(parts)
            acks.batch, acks.records = batch["id"], found if self.recorded else {}
            if acks:  # each batch's acks at once: the brokers' windows reopen before the next send
                self.on_acks(acks)
            self.last_sent = self.monotonic()
        self._send_control(control)

    # --- where a batch goes: the queue, else the spool, else nowhere (held) ---------------------------
    def _queue_open(self, now: float) -> bool:
        spooled = self.spool is not None and self.spool.pending
        return (self.redis_ok or now >= self.retry_at) and not self.queue_full and not spooled

    def _spooling(self) -> bool:
        return self.spool is not None and not self.spool_full

    def _deliver(self, batch: dict, found: inflight.Records) -> bool:
        now = self.monotonic()
        self.recorded = False
        if self.queue_full and not (self.spool and self.spool.pending):
            self._check_backlog(now)
        if self._queue_open(now):
            try:
                self._publish(INGEST_TASK, [batch], {}, "ingest", BATCH_SERIALIZER, found)
            except Exception as exc:  # noqa: BLE001 - the queue unreachable (kombu raises several types)
                self._went_down(exc)
            else:
                self._redis_back()
                self._size_for_backlog()
                return True
        if self._spooling() and self._to_spool(batch):
            return True  # the outbox copy (if any) stays: the spool replays this batch under the same id
        if self.outbox:  # the batch stays here, and will leave under another id
            drop = self.inflight and found and partial(self.inflight.drop, batch_id=batch["id"], cids=list(found))
            outbox.forget(batch, also=drop or None)
        elif self.inflight and self.recorded:
            self.inflight.release(batch["id"], list(found))
        return False

    def _to_spool(self, batch: dict) -> bool:
        assert self.spool is not None
        if not self.spool.append(batch):
            self.spool_full = True
            logger.error(
                "the spool %s is full (MQTT_SPOOL_MAX_BYTES=%d): holding acknowledgements; brokers that keep few "
                "unacknowledged messages will drop some",
                self.spool.path,
                self.spool.max_bytes,
            )
            return False
        if not self.stats["spooled"] or not self.spool.pending - 1:
            logger.warning("the queue does not take batches: spooling them to %s", self.spool.path)
        self.stats["spooled"] += 1
        return True

    def _hold(self, due: dict[int, list[Chunk]]) -> None:
        self._put_back(due)
        with self.cond:
            self.hold_until = self.monotonic() + 1.0

    def _replay_at(self) -> float:
        if self.spool is None or not self.spool.pending:
            return float("inf")
        at = 0.0 if self.redis_ok else self.retry_at
        return max(at, self.backlog_check_at) if self.queue_full else at

    def _replay(self, now: float) -> None:
        """Spooled batches into the queue, oldest first, for at most a fifth of a second a round (new batches go to
        the spool meanwhile, so order holds)."""
        if self._replay_at() > now:
            return
        if self.queue_full and not self._check_backlog(now):
            return
        assert self.spool is not None
        deadline = self.monotonic() + 0.2
        while (item := self.spool.peek()) is not None:
            batch, end = item
            try:
                self._publish(INGEST_TASK, [batch], {}, "ingest", BATCH_SERIALIZER)
            except Exception as exc:  # noqa: BLE001 - away again: the rest waits on disk
                self._went_down(exc)
                return
            self.spool.consumed(end)
            self.stats["replayed"] += 1
            self._redis_back()
            if not self.spool.pending:
                self.spool_full = False
                logger.warning("the spool is replayed: %d batches in all so far", self.stats["replayed"])
                return
            if self.stats["replayed"] % 50 == 0 and not self._check_backlog(self.monotonic(), force=True):
                return
            if self.monotonic() > deadline:
                return

    def _check_backlog(self, now: float, force: bool = False) -> bool:
        """Whether the ingest queue has room again (re-read at most once a second); sets `queue_full`."""
        if not force and now < self.backlog_check_at:
            return not self.queue_full
        self.backlog_check_at = now + 1.0
        waiting = self.backlog()
        full = waiting is not None and waiting >= (self.max_backlog // 2 if self.queue_full else self.max_backlog)
        if full != self.queue_full:
            self.queue_full = full
            if full:
                logger.warning("the ingest queue holds %s batches: new batches wait (spool or brokers)", waiting)
            else:
                logger.warning("the ingest queue has room again (%s batches): sending resumed", waiting)
        return not full

    def _send_control(self, control: list) -> None:
        if control and not self.redis_ok and self.monotonic() < self.retry_at:
            with self.cond:
                self.control[:0] = control
            return
        try:
            while control:
                task, args, kwargs = control[0]
                self._publish(task, args, kwargs, "control")
                control.pop(0)
                self._redis_back()
        except Exception as exc:  # noqa: BLE001 - Redis unreachable
            self._went_down(exc)
            with self.cond:
                self.control[:0] = control

    def _calm_down(self) -> None:
        """Messages arrive after a quiet spell longer than a busy batch's age: the backlog that made batches
        big is gone by now, and the next message must not wait a busy interval to find that out."""
        if self.monotonic() - self.last_sent >= self.busy_interval:
            self._set_level(0, None)

    def _size_for_backlog(self) -> None:
        """One step up when batches wait (STEP_UP_BACKLOG), one down when the queue is empty, else hold;
        unknown (not Redis, or Redis away) counts as empty."""
        waiting = self.backlog() or 0
        if waiting >= self.max_backlog:
            self.backlog_check_at = 0.0
            self._check_backlog(self.monotonic())
        if waiting >= STEP_UP_BACKLOG:
            self._set_level(min(self.level + 1, self.top_level), waiting)
        elif waiting == 0 and self.level:
            self._set_level(self.level - 1, waiting)

    def _set_level(self, level: int, waiting: int | None) -> None:
        if level == self.level:
            return
        self.level = level
        self.batch_size = min(self.busy_size, self.base_size << level)
        self.interval = min(self.busy_interval, self.base_interval * (1 << level))
        # INFO when the workers are behind (the busy bounds) and when they have caught up from there; the
        # steps between can change with every batch at moderate load: DEBUG.
        log = logger.debug
        if level == self.top_level and not self.behind:
            self.behind, log = True, logger.info
        elif level == 0 and self.behind:
            self.behind, log = False, logger.info
        log(
            "ingest queue %s batches long: batches of up to %d messages, %g s",
            "?" if waiting is None else waiting,
            self.batch_size,
            self.interval,
        )

    def _publish(
        self,
        task: str,
        args: list,
        kwargs: dict,
        queue: str,
        serializer: str | None = None,
        found: inflight.Records | None = None,
    ) -> None:
        # retry=False: fail at once when Redis is away (we keep the data and retry ourselves);
        # ignore_result: the Redis result backend would otherwise subscribe per task, and block on an outage;
        # argsrepr: Celery would otherwise repr() the arguments for its logs (a batch: costly, useless).
        options: dict[str, Any] = {"retry": False, "ignore_result": True}
        if serializer:
            # The batch id as the task id: the outbox's reaper sees which batches workers hold (mqtt_app/outbox.py).
            options |= {"serializer": serializer, "argsrepr": f"<batch of {_size(args[0])}>", "task_id": args[0]["id"]}
            if self.outbox:  # with the copy, in its transaction: a record always has a batch that will be stored
                add = self.inflight and found and partial(self.inflight.add, batch_id=args[0]["id"], found=found)
                outbox.put(args[0], also=add or None)
                self.recorded = bool(add)
        if serializer and self.inflight and found and not self.outbox:
            # RabbitMQ: before the publish, so that a kill while it waits for the confirm leaves a record (a taker
            # trusts a record without an outbox copy only once its batch is stored).
            self.recorded = self.inflight.write(args[0]["id"], found)
        self.send_task(task, args=args, kwargs=kwargs, queue=queue, **options)

    def _batch(self, parts: list[tuple[int, list[Chunk]]]) -> dict:
        return encode_batch(self.listener_id, [_part(c, k) for c, k in parts])

    def _went_down(self, exc: Exception) -> None:
        """The queue did not take a send: probe it again within a second (the spool, if any, takes batches)."""
        self.stats["send_failures"] += 1
        delay, self.backoff = self.backoff, min(1.0, self.backoff * 2)
        if self.redis_ok:
            held = "spooling batches" if self._spooling() else "holding acknowledgements (back-pressure)"
            logger.warning("cannot enqueue to the broker (%s): %s", exc, held)
        with self.cond:
            self.redis_ok = False
            self.retry_at = self.monotonic() + delay

    def _put_back(self, due: dict[int, list[Chunk]]) -> None:
        """Unsent messages back at the front of their buffers (order per connection is kept). They are as old
        as they are: the batch they start is due MQTT_BATCH_INTERVAL after the oldest of them arrived. (It was
        due that long after they were put back: a size flush's remainder then waited nearly two intervals,
        and at half load a quarter of the batches carried one: the slowest of them all.)"""
        with self.cond:
            arrived = [chunk.received_at for chunks in due.values() for chunk in chunks]
            if arrived:
                oldest = self.monotonic() - max(0.0, self.wall() - min(arrived))  # wall clock → monotonic
                self.first_at = min(self.first_at, oldest) if self.buffered else oldest
            for cid, chunks in due.items():
                current = self.generations.get(cid, 0)
                chunks = [c for c in chunks if c.generation >= current or not c.unacked()]
                if not chunks:
                    continue
                buffer = self.buffers.setdefault(cid, Buffer())
                buffer.chunks[:0] = chunks
                buffer.unacked += sum(c.unacked() for c in chunks)
                self.window_full = self.window_full or buffer.unacked >= self.window
                self.buffered += sum(len(c) for c in chunks)
                self.buffered_bytes += sum(c.nbytes() for c in chunks)

    def _redis_back(self) -> None:
        if not self.redis_ok:
            logger.warning("the broker is reachable again: sending and acknowledging resumed")
        self.redis_ok = True
        self.retry_at = 0.0
        self.backoff = 0.2


def _next_parts(
    due: dict[int, list[Chunk]], size: int, max_bytes: int
) -> tuple[list[tuple[int, list[Chunk]]], dict[int, list[Chunk]]]:
    """The next batch (connections in the order they started waiting, at most `size` messages and `max_bytes` of
    payload in all, but at least one message), and what is left after it. `due` itself is not changed: if the
    send fails, all of it goes back."""
    parts: list[tuple[int, list[Chunk]]] = []
    rest: dict[int, list[Chunk]] = {}
    room, byte_room, empty = size, max_bytes, True
    for cid, chunks in due.items():
        if not room:
            rest[cid] = chunks
            continue
        taken: list[Chunk] = []
        for index, chunk in enumerate(chunks):
            fit = _fitting(chunk, room, byte_room, empty)
            if fit < len(chunk):
                head, tail = chunk.split(fit)
                if fit:
                    taken.append(head)
                rest[cid] = [tail, *chunks[index + 1 :]]
                room = 0
                break
            taken.append(chunk)
            room -= len(chunk)
            byte_room -= chunk.nbytes()
            empty = False
            if not room:
                if index + 1 < len(chunks):
                    rest[cid] = chunks[index + 1 :]
                break
        if taken:
            parts.append((cid, taken))
    return parts, rest


def _fitting(chunk: Chunk, room: int, byte_room: int, empty: bool) -> int:
    """How many of the chunk's messages fit in what is left of the batch (the first message of a batch always)."""
    if len(chunk) <= room and chunk.nbytes() <= byte_room:
        return len(chunk)
    count = 0
    for size in map(len, chunk.payloads[:room]):
        if size > byte_room and not (empty and count == 0):
            break
        byte_room -= size
        count += 1
    return count


def _part(cid: int, chunks: list[Chunk]) -> dict:
    """One connection's chunks as one part of the wire's columns."""
    if len(chunks) == 1:
        (c,) = chunks
        return encode_part(cid, c.topics, c.payloads, c.qos, c.retain, [c.received_at] * len(c), c.sizes)
    chain = itertools.chain.from_iterable
    sizes = None
    if any(c.sizes is not None for c in chunks):
        sizes = list(chain(c.sizes if c.sizes is not None else list(map(len, c.payloads)) for c in chunks))
    return encode_part(
        cid,
        list(chain(c.topics for c in chunks)),
        list(chain(c.payloads for c in chunks)),
        list(chain(c.qos for c in chunks)),
        list(chain(c.retain for c in chunks)),
        list(chain([c.received_at] * len(c) for c in chunks)),
        sizes,
    )


def _levels(base_size: int, busy_size: int, base_interval: float, busy_interval: float) -> int:
    """How many doublings take the normal batch to the busy one (size and age each capped at theirs)."""
    level = 0
    while base_size << level < busy_size or base_interval * (1 << level) < busy_interval:
        level += 1
    return level


def _acks(parts: list[tuple[int, list[Chunk]]]) -> Acks:
    """The acknowledgements a sent batch releases: one entry per connection, generation and QoS, so each
    client writes them at once."""
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for cid, chunks in parts:
        for chunk in chunks:
            for qos, mids in chunk.acks():
                if mids:
                    grouped.setdefault((cid, chunk.generation, qos), []).extend(mids)
    return Acks((cid, generation, qos, mids) for (cid, generation, qos), mids in grouped.items())


def _size(batch: dict) -> int:
    return sum(len(part["topics"]) for part in batch["parts"])
