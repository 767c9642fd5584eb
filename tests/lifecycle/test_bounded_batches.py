"""Memory stays bounded: oversized payloads never leave the listener, batches carry a bounded number of bytes,
and a queue past its bound takes no more batches (they go to the spool instead)."""

from __future__ import annotations

import time

import msgpack

from mqtt_app.ingest.wire import decode_batch
from mqtt_app.listener.batcher import Batcher, Chunk
from mqtt_app.listener.spool import Spool
from tests.lifecycle.test_batcher import AckLog, FlakySender


def chunk(payloads: list[bytes], first_mid: int = 1) -> Chunk:
    count = len(payloads)
    mids = list(range(first_mid, first_mid + count))
    return Chunk(1, time.time(), ["site/big"] * count, payloads, [1] * count, [False] * count, mids)


def flush(batcher: Batcher) -> None:
    batcher._send(*batcher._take_due(time.monotonic(), flush_all=True))  # noqa: SLF001 - driven by hand


def test_an_oversized_payload_travels_as_its_size_and_is_still_acknowledged(settings):
    settings.MQTT_MAX_PAYLOAD_BYTES = 1000
    sender, acks = FlakySender(), AckLog()
    batcher = Batcher("L1", acks, send_task=sender)

    batcher.add_chunks([(7, chunk([b"small", b"x" * 5000, b"ok"]))])
    flush(batcher)

    (batch,) = sender.batches()
    part = batch["parts"][0]
    assert part["payloads"] == [b"small", b"", b"ok"] and part["sizes"] == [5, 5000, 2]
    assert [mid for _, _, mid, _ in acks] == [1, 2, 3]
    assert batcher.stats["oversized"] == 1
    decoded = decode_batch(msgpack.unpackb(msgpack.packb(batch), raw=False))
    assert [m.received_size for m in decoded.parts[0].messages] == [5, 5000, 2]


def test_a_batch_carries_at_most_the_byte_bound_but_always_one_message(settings):
    settings.MQTT_BATCH_MAX_BYTES = 10_000
    settings.MQTT_MAX_PAYLOAD_BYTES = 100_000
    sender = FlakySender()
    batcher = Batcher("L1", AckLog(), send_task=sender)

    batcher.add_chunks([(7, chunk([b"a" * 4000] * 5 + [b"b" * 30_000] + [b"c" * 10] * 3))])
    flush(batcher)

    sizes = [sum(len(p) for part in b["parts"] for p in part["payloads"]) for b in sender.batches()]
    assert sizes == [8000, 8000, 4000, 30_000, 30]
    assert sum(sender.messages()) == 9


def test_a_full_ingest_queue_sends_new_batches_to_the_spool_and_replays_them_once_it_drains(settings, tmp_path):
    settings.MQTT_INGEST_MAX_BACKLOG = 100
    waiting = [0]
    sender, acks = FlakySender(), AckLog()
    batcher = Batcher("L1", acks, send_task=sender, backlog=lambda: waiting[0], spool=Spool(tmp_path, 1 << 20))

    waiting[0] = 150  # workers away: the queue is past its bound after this send
    batcher.add_chunks([(7, chunk([b"1"]))])
    flush(batcher)
    batcher.add_chunks([(7, chunk([b"2"], first_mid=2))])
    flush(batcher)

    assert batcher.queue_full and batcher.spool.pending == 1 and len(sender.batches()) == 1
    assert [mid for _, _, mid, _ in acks] == [1, 2]  # spooled is acknowledged
    waiting[0] = 10
    batcher.backlog_check_at = 0.0
    flush(batcher)
    assert not batcher.queue_full and batcher.spool.pending == 0
    assert [b["parts"][0]["payloads"] for b in sender.batches()] == [[b"1"], [b"2"]]
