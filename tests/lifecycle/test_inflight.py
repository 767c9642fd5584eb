"""The records of queued messages whose PUBACK has not left (mqtt_app/listener/inflight.py), on a real Redis:
written with the batch's outbox copy (or after the queue's confirm), taken by the process that resumes the
connection, released before the PUBACKs (or at the PINGRESP after them)."""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from types import SimpleNamespace

import pytest

from mqtt_app import outbox
from mqtt_app.listener import inflight
from mqtt_app.listener.batcher import Batcher, Chunk
from mqtt_app.listener.inflight import Inflight
from mqtt_app.listener.service import ListenerService
from tests.helpers import wait_for
from tests.lifecycle.test_batcher import FlakySender, Message


@pytest.fixture(autouse=True)
def _redis_broker(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL


def chunk(mids: list[int], qos: list[int] | None = None) -> Chunk:
    qos = qos or [1] * len(mids)
    return Chunk(1, 0.0, ["hall/t"] * len(mids), [f"{mid}".encode() for mid in mids], qos, [False] * len(mids), mids)


def test_a_batchs_records_hold_its_qos1_messages_per_connection():
    found = inflight.records([(7, [chunk([1, 2]), chunk([0, 3], qos=[0, 2])]), (8, [chunk([0], qos=[0])])])

    assert set(found) == {7}
    assert inflight.unpack(found[7]) == {1: zlib.crc32(b"1"), 2: zlib.crc32(b"2")}
    assert inflight.unpack(inflight.pack([65535], [b""])) == {65535: 0}


def test_records_written_with_the_outbox_copy_are_taken_once_by_the_next_process(redis_client):
    crashed, taker = Inflight(), Inflight()
    batch = {"id": str(uuid.uuid4()), "parts": []}
    found = inflight.records([(7, [chunk([1, 2])])])

    outbox.put(batch, also=lambda pipe: crashed.add(pipe, batch["id"], found))

    assert crashed.take(7) == {}  # a process never takes its own
    assert taker.take(7) == {1: (zlib.crc32(b"1"), batch["id"]), 2: (zlib.crc32(b"2"), batch["id"])}
    assert taker.take(7) == {} and not redis_client.exists(crashed.key)


def test_a_batchs_records_are_released_before_its_pubacks():
    crashed, taker = Inflight(), Inflight()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    crashed.write(first, inflight.records([(7, [chunk([1])])]))
    crashed.write(second, inflight.records([(7, [chunk([2])]), (8, [chunk([3])])]))

    assert crashed.release(first, [7])

    assert set(taker.take(7)) == {2} and set(taker.take(8)) == {3}


def test_after_a_failed_deletion_the_next_write_wipes_the_process_records():
    process, taker = Inflight(), Inflight()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    process.write(first, inflight.records([(7, [chunk([1])])]))
    process.paused_until = time.monotonic() + 60  # Redis just failed

    assert process.release(first, [7]) is False and process.wipe
    process.paused_until = 0.0
    process.write(second, inflight.records([(7, [chunk([2])])]))

    assert set(taker.take(7)) == {2}  # the record that outlived its PUBACK is gone


def test_a_batch_the_queue_did_not_take_leaves_no_record():
    crashed, taker = Inflight(), Inflight()
    batch = {"id": str(uuid.uuid4()), "parts": []}
    outbox.put(batch, also=lambda pipe: crashed.add(pipe, batch["id"], {7: inflight.pack([1], [b"1"])}))

    outbox.forget(batch, also=lambda pipe: crashed.drop(pipe, batch["id"], [7]))

    assert taker.take(7) == {}


def test_an_unreachable_redis_reads_as_no_records_and_fails_the_writes(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL = "redis://127.0.0.1:1/0"
    process = Inflight()

    assert process.take(7) == {}
    assert process.paused_until > time.monotonic()  # a hanging Redis costs one timeout, not one per batch
    assert process.release("b", [7]) is False
    assert process.write("b", {7: inflight.pack([1], [b"1"])}) is False


def run_batcher(sender: FlakySender, process: Inflight, messages: list) -> tuple[Batcher, list]:
    handed: list = []
    batcher = Batcher("L1", handed.append, send_task=sender, inflight=process)
    batcher.add_many(messages)
    batcher.start()
    return batcher, handed


def test_a_batch_sent_without_an_outbox_is_recorded_before_the_publish(settings):
    # RabbitMQ's way: no outbox copy to share a transaction with; the record is written before the publish (a
    # taker trusts it once the batch is stored: test_only_the_records_of_stored_batches_are_trusted_without_outbox).
    settings.MQTT_BATCH_INTERVAL = 0.01
    messages = [(7, 1, Message(mid, topic="hall/t", payload=f"{mid}".encode())) for mid in (1, 2)]
    batcher, handed = run_batcher(FlakySender(), Inflight(), messages)
    try:
        wait_for(lambda: handed, timeout=5, what="the batch's acks")
    finally:
        batcher.stop()

    assert handed[0].recorded == (7,) and handed[0].batch and [mids for *_, mids in handed[0]] == [[1, 2]]
    assert {batch for _, batch in Inflight().take(7).values()} == {handed[0].batch}


def test_a_batch_the_queue_refused_is_not_recorded(settings):
    settings.MQTT_BATCH_INTERVAL = 0.01
    sender = FlakySender()
    sender.down = True
    batcher, handed = run_batcher(sender, Inflight(), [(7, 1, Message(1, topic="hall/t", payload=b"1"))])
    try:
        wait_for(lambda: batcher.stats["send_failures"], timeout=5, what="a refused send")
    finally:
        batcher.stop()

    assert handed == [] and Inflight().take(7) == {}


@pytest.mark.django_db
def test_only_the_records_of_stored_batches_are_trusted_without_outbox():
    from django.utils import timezone

    from mqtt_app.listener.service import stored_batches
    from mqtt_app.models import IngestBatch

    first, other, lost = (str(uuid.uuid4()) for _ in range(3))
    now = timezone.now()
    # `first` was stored with connection 7's part first; `other` with it second (after connection 8's), so its
    # part has a derived id and the batch's id is on connection 8's part, committed in the same transaction.
    IngestBatch.objects.create(id=first, batch=first, connection_id=7, message_count=1, processed_at=now)
    IngestBatch.objects.create(id=other, batch=other, connection_id=8, message_count=1, processed_at=now)
    part = IngestBatch.part_id(uuid.UUID(other), 7, first=False)
    IngestBatch.objects.create(id=part, batch=other, connection_id=7, message_count=1, processed_at=now)

    assert stored_batches({first, other, lost}) == {first, other}


def test_records_released_from_another_thread_are_queued_once_in_the_loop(settings, tmp_path):
    # The loop may run on another thread than the one that built the service (the listener benchmark does).
    settings.MQTT_SPOOL_DIR = str(tmp_path)
    service = ListenerService("T1", send_task=lambda *args, **kwargs: None)
    client = SimpleNamespace(spec=SimpleNamespace(id=7))
    try:
        for work in (lambda: service.release_records(client, ["b1"], at_once=False), service.reactor._run_pending):
            thread = threading.Thread(target=work)  # neither is the thread that built the service
            thread.start()
            thread.join()

        assert service.to_release == ["7:b1"]
        assert not service.reactor._pending  # noqa: SLF001 - nothing scheduled again
    finally:
        service.pool.shutdown()
