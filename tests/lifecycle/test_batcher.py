"""The batcher alone (no processes): ack only after the send, hold everything while Redis is away, bounded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from mqtt_app.listener.batcher import INGEST_TASK, Batcher
from tests.helpers import wait_for


@dataclass
class Message:
    mid: int
    qos: int = 1
    topic: str = "site/a"
    payload: bytes = b"\x00\xff"
    retain: bool = False


class FlakySender:
    """Stands in for Celery's send_task; `down` makes it fail like an unreachable Redis."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[tuple[str, list]] = []
        self.options: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, name: str, args: list, kwargs: dict, queue: str, retry: bool, **options) -> None:
        if self.down:
            raise ConnectionError("Redis is down")
        with self.lock:
            self.sent.append((name, args))
            self.options.append(options)

    def messages(self) -> list[int]:
        with self.lock:
            return [
                sum(len(part["topics"]) for part in args[0]["parts"]) for name, args in self.sent if name == INGEST_TASK
            ]

    def batches(self) -> list[dict]:
        with self.lock:
            return [args[0] for name, args in self.sent if name == INGEST_TASK]


class Clock:
    """The batcher's clocks, moved by the test: a monotonic one and the wall clock, a fixed distance apart."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_790_000_000.0 + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AckLog(list):
    """The batcher's on_acks: keeps every (connection, generation, mid, qos) and the groups as handed over
    (one per connection, generation and QoS in a batch: what a client writes at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[tuple[int, int, int, list[int]]] = []

    def __call__(self, acks: list) -> None:
        self.groups += acks
        self.extend((cid, generation, mid, qos) for cid, generation, qos, mids in acks for mid in mids)


@contextmanager
def running(
    sender: FlakySender, acks: AckLog, before: list | None = None, backlog: Callable[[], int | None] | None = None
) -> Iterator[Batcher]:
    """A started batcher (after `before` was buffered, so they are all there at its first look), stopped after.
    `backlog` stands in for the ingest queue's length."""
    batcher = Batcher("L1", acks, send_task=sender, backlog=backlog)
    batcher.add_many(before or [])
    batcher.start()
    try:
        yield batcher
    finally:
        batcher.stop()


@pytest.fixture
def rig(settings):
    settings.MQTT_BATCH_SIZE = 50
    settings.MQTT_BATCH_INTERVAL = 0.01
    settings.MQTT_LISTENER_MAX_BUFFER = 100
    sender, acks = FlakySender(), AckLog()
    batcher = Batcher("L1", acks, send_task=sender)
    batcher.start()
    yield batcher, sender, acks
    batcher.stop()


def test_qos1_messages_are_acked_only_after_their_batch_was_sent(rig):
    batcher, sender, acks = rig
    batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 4)] + [(7, 1, Message(9, qos=0))])
    wait_for(lambda: len(acks) == 3, timeout=5, what="acks")
    assert sum(sender.messages()) == 4
    assert sorted(acks) == [(7, 1, 1, 1), (7, 1, 2, 1), (7, 1, 3, 1)]  # QoS 0 needs no ack


def test_nothing_is_acked_while_redis_is_down_and_everything_goes_once_it_is_back(rig):
    batcher, sender, acks = rig
    sender.down = True
    batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 11)])
    wait_for(lambda: not batcher.redis_ok, timeout=5, what="the failure to be noticed")
    assert acks == [] and batcher.buffered == 10
    sender.down = False
    wait_for(lambda: len(acks) == 10, timeout=10, what="resumed acks")
    assert sum(sender.messages()) == 10 and batcher.buffered == 0


def test_a_full_buffer_drops_qos0_keeps_qos1_and_says_it_is_full(rig):
    batcher, sender, acks = rig
    sender.down = True
    assert not batcher.full
    kept = batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 101)])
    assert kept == 100 and batcher.full  # the loop stops reading its sockets now
    assert batcher.add_many([(7, 1, Message(500, qos=0)), (8, 1, Message(501, qos=1))]) == 1
    assert batcher.stats["dropped_qos0"] == 1 and batcher.buffered == 101
    sender.down = False
    wait_for(lambda: len(acks) == 101, timeout=10, what="everything kept, acked")
    assert not batcher.full


def test_a_connection_is_sent_at_the_broker_window_without_waiting_for_the_interval(settings):
    settings.MQTT_BATCH_SIZE = 500
    settings.MQTT_BATCH_INTERVAL = 30.0  # so only the window can explain a prompt send
    settings.MQTT_ACK_WINDOW = 20
    sender, acks = FlakySender(), AckLog()
    with running(sender, acks) as batcher:
        batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 21)])
        wait_for(lambda: len(acks) == 20, timeout=5, what="a send at the in-flight window")


def test_messages_of_several_connections_leave_in_one_batch_with_a_part_each(rig):
    batcher, sender, acks = rig
    batcher.add_many([(7, 1, Message(1)), (8, 3, Message(1)), (7, 1, Message(2)), (9, 1, Message(5, qos=0))])
    wait_for(lambda: len(acks) == 3, timeout=5, what="acks")
    (batch,) = sender.batches()
    assert set(batch) == {"id", "listener", "sent_at", "parts"} and batch["listener"] == "L1"
    assert time.time() - 5 < batch["sent_at"] <= time.time()  # when it left, to time its wait in the queue
    assert [(p["connection_id"], len(p["topics"])) for p in batch["parts"]] == [(7, 2), (8, 1), (9, 1)]
    assert sorted(acks) == [(7, 1, 1, 1), (7, 1, 2, 1), (8, 3, 1, 1)]  # each ack names its own client


def test_a_shared_batch_is_split_at_the_batch_size_keeping_each_connections_order(settings):
    settings.MQTT_BATCH_SIZE = 4
    settings.MQTT_BATCH_INTERVAL = 0.2  # the remainder of a size flush leaves once it is this old
    sender, acks = FlakySender(), AckLog()
    messages = [(7, 1, Message(mid)) for mid in range(1, 4)] + [(8, 1, Message(mid)) for mid in range(1, 4)]
    with running(sender, acks, before=messages):
        wait_for(lambda: len(acks) == 6, timeout=5, what="both batches acked")
    sizes = [[(p["connection_id"], len(p["topics"])) for p in b["parts"]] for b in sender.batches()]
    assert sizes == [[(7, 3), (8, 1)], [(8, 2)]]
    assert [mid for cid, _, mid, _ in acks if cid == 8] == [1, 2, 3]


def test_a_shared_batch_is_acked_on_no_client_until_it_is_in_redis(rig):
    batcher, sender, acks = rig
    sender.down = True
    batcher.add_many([(7, 1, Message(1)), (8, 1, Message(2))])
    wait_for(lambda: batcher.stats["send_failures"] >= 1, timeout=5, what="a failed send")
    assert acks == [] and batcher.buffered == 2
    assert {cid: b.unacked for cid, b in batcher.buffers.items()} == {7: 1, 8: 1}
    sender.down = False
    wait_for(lambda: len(acks) == 2, timeout=10, what="acks once Redis is back")
    assert sorted(acks) == [(7, 1, 1, 1), (8, 1, 2, 1)] and sum(sender.messages()) == 2


def test_one_connection_at_its_window_sends_every_connections_messages(settings):
    settings.MQTT_BATCH_SIZE = 500
    settings.MQTT_BATCH_INTERVAL = 30.0  # so only the window can explain a prompt send
    settings.MQTT_ACK_WINDOW = 5
    sender, acks = FlakySender(), AckLog()
    with running(sender, acks) as batcher:
        batcher.add_many([(8, 1, Message(mid)) for mid in range(1, 5)])  # 4 < window: waits
        batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 6)])  # 5 = window of connection 7
        wait_for(lambda: len(acks) == 9, timeout=5, what="a send at one connection's in-flight window")
    assert sender.messages() == [9]


def test_a_batch_carries_columns_with_raw_payload_bytes_and_goes_as_msgpack(rig):
    batcher, sender, acks = rig
    binary = bytes(range(256))
    batcher.add_many([(7, 1, Message(1, payload=binary)), (7, 1, Message(0, qos=0, topic="site/b", retain=True))])
    wait_for(lambda: len(acks) == 1, timeout=5, what="acks")
    (batch,) = sender.batches()
    (part,) = batch["parts"]
    assert part["topics"] == ["site/a", "site/b"] and part["payloads"] == [binary, b"\x00\xff"]
    assert part["qos"] == [1, 0] and part["retain"] == [False, True]
    assert len(part["received_at"]) == 2 and all(isinstance(t, float) for t in part["received_at"])
    assert sender.options[0]["serializer"] == "msgpack"


def test_a_batchs_acks_are_one_group_per_client_generation_and_qos(settings):
    settings.MQTT_BATCH_SIZE = 500
    settings.MQTT_BATCH_INTERVAL = 30.0
    settings.MQTT_ACK_WINDOW = 8
    sender, acks = FlakySender(), AckLog()
    with running(sender, acks) as batcher:
        batcher.add_many([(7, 1, Message(mid)) for mid in (1, 2)] + [(7, 2, Message(1)), (7, 2, Message(3, qos=0))])
        batcher.add_many([(7, 2, Message(mid)) for mid in (4, 5)] + [(7, 2, Message(6, qos=2))])
        batcher.add_many([(8, 1, Message(mid)) for mid in (1, 2)] + [(7, 2, Message(7))])
        assert not sender.batches()  # 7 unacked on connection 7: below its window
        batcher.add_many([(7, 2, Message(8))])
        wait_for(lambda: sender.batches(), timeout=5, what="a send at the window")
    assert sorted(acks.groups) == [(7, 1, 1, [1, 2]), (7, 2, 1, [1, 4, 5, 7, 8]), (7, 2, 2, [6]), (8, 1, 1, [1, 2])]


def test_a_chunk_that_does_not_fit_keeps_its_qos1_messages_past_the_bound(rig):
    batcher, sender, acks = rig
    sender.down = True
    assert batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 98)]) == 97
    cut = [(8, 1, Message(1)), (8, 1, Message(2, qos=0)), (8, 1, Message(3)), (8, 1, Message(4, qos=0)),
           (8, 1, Message(5))]  # fmt: skip
    assert batcher.add_many(cut) == 4  # three fit; past the bound QoS 0 is dropped, QoS 1 kept
    assert batcher.buffered == 101 and batcher.stats["dropped_qos0"] == 1
    sender.down = False
    wait_for(lambda: len(acks) == 100, timeout=10, what="everything kept, acked")
    assert [mid for cid, _, mid, _ in acks if cid == 8] == [1, 3, 5]


def test_a_flush_for_size_sends_whole_batches_and_keeps_the_remainder_for_the_next(settings):
    """At high rates a size flush used to find a batch and a bit (520 of 500) and send the bit alone."""
    settings.MQTT_BATCH_SIZE = 10
    settings.MQTT_BATCH_INTERVAL = 0.5
    settings.MQTT_ACK_WINDOW = 1000
    sender, acks = FlakySender(), AckLog()
    with running(sender, acks, before=[(7, 1, Message(mid)) for mid in range(1, 24)]) as batcher:
        wait_for(lambda: len(sender.messages()) == 2, timeout=5, what="the two whole batches")
        assert sender.messages() == [10, 10] and batcher.buffered == 3 and len(acks) == 20
        wait_for(lambda: sum(sender.messages()) == 23, timeout=5, what="the remainder, once it aged")
        assert sender.messages() == [10, 10, 3] and len(acks) == 23


def test_batches_step_up_while_batches_wait_in_the_ingest_queue_hold_and_step_down_as_it_drains(settings):
    """Each send reads the queue length: two or more batches waiting doubles the batch (up to the busy size),
    one holds it, none halves it."""
    settings.MQTT_BATCH_SIZE = 10
    settings.MQTT_BATCH_SIZE_BUSY = 30
    settings.MQTT_BATCH_INTERVAL = 30.0  # only sizes trigger sends here
    settings.MQTT_ACK_WINDOW = 1000
    waiting = [2]  # batches in Redis after each send, as the queue length probe reports them
    sender, acks = FlakySender(), AckLog()
    sent = iter(range(1, 1000))

    def send(count: int, expect: list[int], backlog: int) -> None:
        batcher.add_many([(7, 1, Message(next(sent))) for _ in range(count)])
        wait_for(lambda: sender.messages() == expect, timeout=5, what=f"batches {expect}")
        waiting[0] = backlog

    with running(sender, acks, backlog=lambda: waiting[0]) as batcher:
        send(10, [10], 2)  # normal size; it finds two waiting: the next is twice as big
        batcher.add_many([(7, 1, Message(next(sent))) for _ in range(10)])
        assert batcher.buffered == 10 and batcher.batch_size == 20  # held for the bigger batch
        send(10, [10, 20], 5)
        assert batcher.batch_size == 30  # capped at MQTT_BATCH_SIZE_BUSY
        send(30, [10, 20, 30], 1)  # still behind; one waiting: hold
        send(30, [10, 20, 30, 30], 0)
        send(30, [10, 20, 30, 30, 30], 0)  # the queue drained: one step down, then another
        assert batcher.batch_size == 20
        send(20, [10, 20, 30, 30, 30, 20], 0)
        assert batcher.batch_size == 10
        send(10, [10, 20, 30, 30, 30, 20, 10], 0)


def steps_for(settings, backlogs: tuple[int, ...]) -> list[tuple[int, float]]:  # noqa: ANN001
    """With the default bounds, the (size, age) after each send that finds `backlogs` batches waiting."""
    settings.MQTT_BATCH_SIZE = 500
    settings.MQTT_BATCH_SIZE_BUSY = 2000
    settings.MQTT_BATCH_INTERVAL = 0.025
    settings.MQTT_BATCH_INTERVAL_BUSY = 0.1
    waiting = [0]
    seen = []
    with running(FlakySender(), AckLog(), backlog=lambda: waiting[0]) as batcher:
        for backlog in backlogs:
            waiting[0] = backlog
            batcher._size_for_backlog()  # noqa: SLF001 - what each send runs
            seen.append((batcher.batch_size, batcher.interval))
    return seen


def test_the_steps_double_size_and_age_up_to_the_busy_bounds(settings):
    seen = steps_for(settings, (3, 3, 3, 0, 0, 0))
    assert seen == [(1000, 0.05), (2000, 0.1), (2000, 0.1), (1000, 0.05), (500, 0.025), (500, 0.025)]


def test_an_unreadable_queue_length_keeps_the_normal_size(settings):
    settings.MQTT_BATCH_SIZE = 10
    settings.MQTT_BATCH_SIZE_BUSY = 30
    settings.MQTT_BATCH_INTERVAL = 30.0
    sender, acks = FlakySender(), AckLog()
    with running(sender, acks, backlog=lambda: None) as batcher:
        batcher.add_many([(7, 1, Message(mid)) for mid in range(1, 21)])
        wait_for(lambda: sender.messages() == [10, 10], timeout=5, what="two normal batches")


def test_after_a_quiet_spell_the_first_message_is_not_held_for_a_busy_batch(settings):
    settings.MQTT_BATCH_SIZE = 10
    settings.MQTT_BATCH_SIZE_BUSY = 20
    settings.MQTT_BATCH_INTERVAL = 0.02
    settings.MQTT_BATCH_INTERVAL_BUSY = 0.3  # four steps up: 0.04, 0.08, 0.16, 0.3
    settings.MQTT_ACK_WINDOW = 1000
    waiting = [50] * 4
    clock, sender = Clock(), FlakySender()
    batcher = Batcher(  # not started: driven by hand, on its clock
        "L1", AckLog(), send_task=sender, backlog=lambda: waiting.pop(0) if waiting else 0,
        monotonic=clock.monotonic, wall=clock.time,
    )  # fmt: skip
    for size in (10, 20, 20, 20):
        batcher.add_many([(7, 1, Message(mid)) for mid in range(size)])
        batcher._send(*batcher._take_due(clock.monotonic(), flush_all=False))  # noqa: SLF001 - one full batch
    assert sender.messages() == [10, 20, 20, 20] and (batcher.batch_size, batcher.interval) == (20, 0.3)

    clock.advance(0.35)  # quieter than a busy batch's age
    batcher.add_many([(7, 1, Message(11))])

    assert (batcher.batch_size, batcher.interval) == (10, 0.02)
    assert batcher._wait_time(clock.monotonic()) == pytest.approx(0.02)  # noqa: SLF001 - due a normal interval on
    clock.advance(0.03)
    batcher._send(*batcher._take_due(clock.monotonic(), flush_all=False))  # noqa: SLF001
    assert sender.messages() == [10, 20, 20, 20, 1]


def test_reaching_the_busy_bounds_and_coming_back_are_logged_once_each(settings, caplog):
    caplog.set_level(logging.INFO, logger="mqtt_app.listener.batcher")
    steps_for(settings, (3, 3, 3, 0, 3, 0, 0, 3, 0))  # up, up (busy), hold, down, up, down, down, up, down
    lines = [r.getMessage() for r in caplog.records if r.name == "mqtt_app.listener.batcher"]
    assert lines == [
        "ingest queue 3 batches long: batches of up to 2000 messages, 0.1 s",
        "ingest queue 0 batches long: batches of up to 500 messages, 0.025 s",
    ]


def test_a_size_flushs_remainder_is_due_an_interval_after_its_oldest_message_arrived_not_after_the_flush(settings):
    """The remainder kept by a size flush used to count its age from the flush: it then waited nearly two
    intervals in the listener, and at half load those batches were the slowest of all."""
    from mqtt_app.listener.batcher import Chunk

    settings.MQTT_BATCH_SIZE = 10
    settings.MQTT_BATCH_INTERVAL = 1.0
    settings.MQTT_ACK_WINDOW = 1000
    clock, sender = Clock(), FlakySender()
    batcher = Batcher(  # not started: driven by hand, on its clock
        "L1", AckLog(), send_task=sender, monotonic=clock.monotonic, wall=clock.time
    )

    def chunk(count: int, age: float) -> Chunk:
        mids = list(range(1, count + 1))
        return Chunk(1, clock.time() - age, ["t"] * count, [b"1"] * count, [1] * count, [False] * count, mids)

    # Connection 7 waits first; connection 8's messages are older than 7's second chunk, and come after it.
    batcher.add_chunks([(7, chunk(5, age=0.6)), (8, chunk(5, age=0.4)), (7, chunk(13, age=0.0))])
    batcher._send(*batcher._take_due(clock.monotonic(), flush_all=False))  # noqa: SLF001 - one flush, for size

    assert sender.messages() == [10, 10] and batcher.buffered == 3  # connection 8's last three, 0.4 s old
    assert batcher.first_at == pytest.approx(clock.monotonic() - 0.4)
    assert batcher._wait_time(clock.monotonic()) == pytest.approx(0.6)  # noqa: SLF001 - not 1.0
