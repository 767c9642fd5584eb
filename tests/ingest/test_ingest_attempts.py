"""Transient failures are waited out, then handed back; a batch failing every round becomes dead letters."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis as redis_lib

from mqtt_app.ingest import attempts
from mqtt_app.ingest.attempts import StillFailing, dead_letter_batch, ingest_with_retries
from mqtt_app.models import DeadLetter, TelemetryReading
from tasks.leases import renew
from tests.ingest.batches import make_batch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_waited_out_with_a_growing_delay_then_the_batch_is_stored(connection, monkeypatch):
    real, failures = attempts.ingest_batch, [psycopg.OperationalError("server closed the connection")] * 4

    def flaky(raw):
        if failures:
            raise failures.pop()
        return real(raw)

    monkeypatch.setattr(attempts, "ingest_batch", flaky)
    clock = Clock()

    outcome = ingest_with_retries(make_batch(connection.pk, [("t/a", b"1.5")]), 120, clock.sleep, clock)

    assert outcome.status == "stored"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert TelemetryReading.objects.count() == 1


def test_past_the_window_the_last_transient_error_is_handed_back(monkeypatch):
    def down(raw):
        raise redis_lib.ConnectionError("Redis away")

    monkeypatch.setattr(attempts, "ingest_batch", down)
    clock = Clock()

    with pytest.raises(StillFailing) as raised:
        ingest_with_retries({}, 30, clock.sleep, clock)

    assert isinstance(raised.value.error, redis_lib.ConnectionError)
    assert sum(clock.sleeps) <= 30
    assert clock.sleeps[-1] == 10.0  # the delay is capped


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_failed_every_round_becomes_dead_letters_once(connection):
    batch = make_batch(connection.pk, [("t/a", b"1"), ("t/b", b"\x00\xff")])

    assert dead_letter_batch(batch, psycopg.OperationalError("still down")) == 2
    dead_letter_batch(batch, psycopg.OperationalError("still down"))  # a redelivery adds nothing

    rows = list(DeadLetter.objects.order_by("topic").values_list("topic", "payload", "error_kind"))
    assert [(t, bytes(p), k) for t, p, k in rows] == [
        ("t/a", b"1", "retries_exhausted"),
        ("t/b", b"\x00\xff", "retries_exhausted"),
    ]


def test_a_lease_renewal_rescores_held_messages_and_never_brings_back_an_acknowledged_one(redis_client):
    old = time.time() - 1000
    redis_client.zadd("unacked_index", {"held": old, "other": old})

    renewed = renew(redis_client, ["held", "acked-meanwhile"])

    assert renewed == 1
    assert redis_client.zscore("unacked_index", "held") > old + 900
    assert redis_client.zscore("unacked_index", "other") == old
    assert redis_client.zscore("unacked_index", "acked-meanwhile") is None


@pytest.mark.django_db(transaction=True)
def test_giving_up_on_a_batch_split_in_part_spares_the_part_already_stored(connection):
    from mqtt_app.ingest.isolate import _mark_split, _sub_batch
    from mqtt_app.ingest.service import store_batch
    from mqtt_app.ingest.wire import decode_batch

    batch = make_batch(connection.pk, [(f"t/{n}", b"1") for n in range(6)])
    decoded = decode_batch(batch)
    _mark_split(decoded)
    messages = [(p.connection_id, m) for p in decoded.parts for m in p.messages]
    store_batch(_sub_batch(decoded, 0, messages[:3], {}))  # the first half was stored, then the failures began

    assert dead_letter_batch(batch, psycopg.OperationalError("down for hours")) == 3
    assert sorted(DeadLetter.objects.values_list("topic", flat=True)) == ["t/3", "t/4", "t/5"]
