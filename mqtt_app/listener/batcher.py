"""Raw messages → `tasks.ingest.ingest_batch`, acknowledged to the broker only once the batch is in Redis.

The loop thread calls `add()` (a lock and a list append, nothing slow). The batcher thread sends ONE batch
for all the connections the listener holds (a part per connection, at most MQTT_BATCH_SIZE messages in all)
when MQTT_BATCH_SIZE messages wait, or one connection has MQTT_ACK_WINDOW unacknowledged ones (the broker's
in-flight limit is per client), or the oldest message is MQTT_BATCH_INTERVAL old; then it hands the QoS 1/2
acknowledgements back to the loop thread, which sends each on its own client. One batch across connections
rather than one per connection: the worker's cost is mostly per batch, so ten quiet connections no longer
make ten small batches. If Redis is unreachable nothing is acked (the broker keeps
the messages: back-pressure) and sending is retried with a growing delay. The buffer is
bounded: past MQTT_LISTENER_MAX_BUFFER messages, QoS 0 messages are dropped (counted) and for QoS 1/2
the connection is flagged so the service reconnects it once Redis is back; the broker then redelivers
everything that was not acknowledged.

Status and activity tasks leave through the same thread (the `control` queue), so one thread owns
every Celery send of the listener and an unreachable Redis stalls nothing else.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

INGEST_TASK = "tasks.ingest.ingest_batch"
MAX_CONTROL_BACKLOG = 20_000


@dataclass
class Received:
    mid: int
    qos: int
    topic: str
    payload: bytes
    retain: bool
    received_at: float
    generation: int


@dataclass
class Buffer:
    """One connection's waiting messages."""

    messages: list[Received] = field(default_factory=list)
    unacked: int = 0  # QoS 1/2 messages waiting: the broker stops sending at its in-flight limit


def _received(generation: int, message: Any, now: float) -> Received:  # noqa: ANN401 - MQTTMessage
    try:
        topic = message.topic
    except UnicodeDecodeError:  # a broker that lets an invalid topic through: keep it, visibly
        topic = message._topic.decode("utf-8", "backslashreplace")  # noqa: SLF001
    return Received(message.mid, message.qos, topic, bytes(message.payload), bool(message.retain), now, generation)


Ack = tuple[int, int, int, int]  # connection id, generation, mid, qos
SendTask = Callable[..., Any]


def default_sender() -> SendTask:
    from project.celery import app

    return app.send_task


class Batcher:
    def __init__(
        self,
        listener_id: str,
        on_acks: Callable[[list[Ack]], None],
        on_overflow: Callable[[int], None],
        send_task: SendTask | None = None,
    ) -> None:
        self.listener_id = listener_id
        self.on_acks = on_acks
        self.on_overflow = on_overflow
        self.send_task = send_task or default_sender()
        self.batch_size = int(settings.MQTT_BATCH_SIZE)
        self.interval = float(settings.MQTT_BATCH_INTERVAL)
        self.max_buffer = int(getattr(settings, "MQTT_LISTENER_MAX_BUFFER", max(10 * self.batch_size, 5000)))
        # The broker's in-flight window (Mosquitto: max_inflight_messages, default 20). Once that many
        # messages wait for their ack the broker sends nothing more, so waiting for the batch interval
        # would cap a connection at window/interval messages a second: send at once instead.
        self.window = int(getattr(settings, "MQTT_ACK_WINDOW", 20))
        self.buffers: dict[int, Buffer] = {}
        self.buffered = 0
        self.first_at = 0.0  # monotonic time of the oldest message waiting (any connection)
        self.window_full = False  # a connection reached its in-flight window: send now
        self.control: list[tuple[str, list, dict]] = []
        self.cond = threading.Condition()
        self.stopping = False
        self.redis_ok = True
        self.retry_at = 0.0
        self.backoff = 0.2
        self.stats = {"batches": 0, "messages": 0, "dropped_qos0": 0, "overflowed": 0, "send_failures": 0}
        self.thread = threading.Thread(target=self.run, name="mqtt-batcher", daemon=True)

    # --- producer side (loop thread and control thread) -----------------------------------------
    def add(self, connection_id: int, generation: int, message: Any) -> bool:  # noqa: ANN401 - MQTTMessage
        """Buffer one message. Returns False when it was dropped because the buffer is full."""
        return self.add_many([(connection_id, generation, message)]) == 1

    def add_many(self, received: list[tuple[int, int, Any]]) -> int:
        """Buffer the messages one loop iteration read (one lock round for all of them). Returns how
        many were kept; the rest were dropped because the buffer is full."""
        now = time.time()
        items = [(cid, _received(generation, message, now)) for cid, generation, message in received]
        kept = 0
        with self.cond:
            wake = False
            for cid, item in items:
                if self.buffered >= self.max_buffer:
                    self._overflow(cid, item)
                    continue
                buffer = self.buffers.get(cid)
                if buffer is None:
                    buffer = self.buffers[cid] = Buffer()
                if not self.buffered:
                    self.first_at = time.monotonic()
                buffer.messages.append(item)
                self.buffered += 1
                kept += 1
                if item.qos:
                    buffer.unacked += 1
                    if buffer.unacked == self.window:
                        self.window_full = wake = True
                wake = wake or self.buffered in (1, self.batch_size)
            if wake:
                self.cond.notify()
        return kept

    def _overflow(self, connection_id: int, item: Received) -> None:
        if item.qos == 0:
            self.stats["dropped_qos0"] += 1
            return
        self.stats["overflowed"] += 1
        self.on_overflow(connection_id)

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
                self.cond.wait(self._wait_time(time.monotonic()))
                stopping = self.stopping
                due, control = self._take_due(time.monotonic(), flush_all=stopping)
            self._send(due, control)
            if stopping:
                return

    def _due(self, now: float) -> bool:
        return self.buffered >= self.batch_size or self.window_full or now - self.first_at >= self.interval

    def _wait_time(self, now: float) -> float:
        if self.stopping:
            return 0
        if not self.redis_ok:
            return max(0.0, self.retry_at - now)
        if self.control:
            return 0
        if not self.buffers:
            return 1.0
        return 0 if self._due(now) else max(0.0, self.first_at + self.interval - now)

    def _take_due(self, now: float, flush_all: bool) -> tuple[dict[int, list[Received]], list]:
        """Every connection's messages at once when a bound is reached (sent as one or more batches)."""
        if not self.redis_ok and now < self.retry_at and not flush_all:
            return {}, []
        due: dict[int, list[Received]] = {}
        if self.buffers and (flush_all or self._due(now)):
            due = {cid: buffer.messages for cid, buffer in self.buffers.items()}
            self.buffers, self.buffered, self.window_full = {}, 0, False
        control, self.control = self.control, []
        return due, control

    def _send(self, due: dict[int, list[Received]], control: list) -> None:
        try:
            while due:
                parts = _next_parts(due, self.batch_size)
                self._publish(INGEST_TASK, [self._batch(parts)], {}, "ingest")
                # Sent: from here on a failure must not put these messages back (they would be sent twice).
                acks: list[Ack] = []
                for cid, chunk in parts:
                    rest = due[cid][len(chunk) :]
                    if rest:
                        due[cid] = rest
                    else:
                        del due[cid]
                    acks += [(cid, m.generation, m.mid, m.qos) for m in chunk if m.qos > 0]
                    self.stats["messages"] += len(chunk)
                self.stats["batches"] += 1
                if acks:  # each batch's acks at once: the brokers' windows reopen before the next send
                    self.on_acks(acks)
            while control:
                task, args, kwargs = control[0]
                self._publish(task, args, kwargs, "control")
                control.pop(0)
            self._redis_back()
        except Exception as exc:  # noqa: BLE001 - Redis unreachable (kombu raises several types)
            self._redis_down(exc, due, control)

    def _publish(self, task: str, args: list, kwargs: dict, queue: str) -> None:
        # retry=False: fail at once when Redis is away (we keep the data and retry ourselves);
        # ignore_result: the Redis result backend would otherwise subscribe per task, and block on an outage.
        self.send_task(task, args=args, kwargs=kwargs, queue=queue, retry=False, ignore_result=True)

    def _batch(self, parts: list[tuple[int, list[Received]]]) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "listener": self.listener_id,
            "parts": [{"connection_id": cid, "messages": [_wire(m) for m in messages]} for cid, messages in parts],
        }

    def _redis_down(self, exc: Exception, due: dict[int, list[Received]], control: list) -> None:
        """Put back what was not sent (at the front: order per connection is kept) and wait."""
        self.stats["send_failures"] += 1
        delay, self.backoff = self.backoff, min(5.0, self.backoff * 2)
        if self.redis_ok:
            logger.warning("cannot enqueue to Redis (%s): holding acknowledgements (back-pressure)", exc)
        with self.cond:
            self.redis_ok = False
            self.retry_at = time.monotonic() + delay
            if due and not self.buffered:
                self.first_at = time.monotonic()
            for cid, messages in due.items():
                buffer = self.buffers.setdefault(cid, Buffer())
                buffer.messages[:0] = messages
                buffer.unacked += sum(1 for m in messages if m.qos)
                self.window_full = self.window_full or buffer.unacked >= self.window
                self.buffered += len(messages)
            self.control[:0] = control

    def _redis_back(self) -> None:
        if not self.redis_ok:
            logger.warning("Redis is reachable again: sending and acknowledging resumed")
        self.redis_ok = True
        self.retry_at = 0.0
        self.backoff = 0.2


def _next_parts(due: dict[int, list[Received]], size: int) -> list[tuple[int, list[Received]]]:
    """The next batch: connections in the order they started waiting, at most `size` messages in all."""
    parts, room = [], size
    for cid, messages in due.items():
        chunk = messages[:room]
        parts.append((cid, chunk))
        room -= len(chunk)
        if not room:
            break
    return parts


def _wire(m: Received) -> dict:
    return {
        "topic": m.topic,
        "payload": base64.b64encode(m.payload).decode("ascii"),
        "qos": m.qos,
        "retain": m.retain,
        "received_at": m.received_at,
    }
