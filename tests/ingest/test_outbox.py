"""The outbox: a batch lost between the queue and a worker is sent again; one stored, waiting or held is not."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from mqtt_app import outbox


@pytest.fixture
def sent(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    batch = {"id": str(uuid.uuid4()), "listener": "L1", "parts": [{"payloads": [b"\x00\xff"]}]}
    outbox.put(batch)
    return batch


def reap(batch_id_stored: set[str] = frozenset(), waiting: int | None = 0, later: float = 60.0) -> list[dict]:
    resent: list[dict] = []
    outbox.reap(resent.append, lambda ids: set(ids) & set(batch_id_stored), lambda: waiting, now=time.time() + later)
    return resent


def test_a_copy_lost_on_the_way_is_sent_again_with_its_bytes(sent):
    assert reap() == [sent]


def test_nothing_is_sent_again_before_the_copy_is_old(sent):
    assert reap(later=1.0) == []


def test_a_stored_batch_loses_its_copy_and_is_not_sent_again(sent, redis_client):
    assert reap({sent["id"]}) == []
    index, bodies, _ = outbox.keys()
    assert redis_client.zcard(index) == 0 and redis_client.hlen(bodies) == 0


def test_while_batches_wait_in_the_queue_none_is_sent_again(sent):
    assert reap(waiting=5) == []


def test_a_batch_a_live_worker_holds_is_not_sent_again(sent, redis_client):
    message = {"headers": {"id": sent["id"], "task": "tasks.ingest.ingest_batch"}, "body": ""}
    redis_client.hset(outbox.UNACKED, "tag-1", json.dumps([message, "ingest", "ingest"]))

    assert reap() == []


def test_done_drops_the_copy(sent, redis_client):
    outbox.done(sent["id"])

    assert reap() == []
