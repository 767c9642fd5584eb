"""Replaying a real dead letter (one the worker made): stored once, even when two staff users replay it at the
same moment, and a failure again stays on the same row."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import DeadLetter, IngestBatch, TelemetryReading
from mqtt_app.services.dead_letters import replay, replay_batch_id
from tests.ingest.batches import make_batch
from tests.ingest.test_hostile_input import allow_values, refuse_value
from tests.ops.factories import make_connection

POISON = ("gen/poison", b'{"v": 666}')


@pytest.fixture
def dead_letter(transactional_db):
    """The worker's own dead letter: a batch whose one message the database refuses."""
    conn = make_connection("boiler")
    refuse_value(666)
    try:
        outcome = ingest_batch(make_batch(conn.pk, [("gen/ok", b'{"v": 1}'), POISON]))
    finally:
        allow_values()
    assert outcome.dead_letters == 1
    return DeadLetter.objects.get()


def test_two_staff_users_replaying_at_once_store_the_message_once(dead_letter):
    users = [get_user_model().objects.create_user(name, is_staff=True) for name in ("ann", "bob")]
    start, results = threading.Barrier(2), []

    def click(user) -> None:  # noqa: ANN001
        try:
            start.wait(5)
            results.extend(replay([dead_letter.pk], user))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=click, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(r.status for r in results) == ["already_stored", "stored"]
    assert TelemetryReading.objects.filter(value=666).count() == 1
    dead_letter.refresh_from_db()
    assert (dead_letter.replay_count, dead_letter.replay_result) == (1, "stored")


def test_a_replay_that_fails_again_adds_no_row_and_counts_its_attempts(dead_letter):
    refuse_value(666)
    try:
        first, second = replay([dead_letter.pk]), replay([dead_letter.pk])
    finally:
        allow_values()

    assert [first[0].status, second[0].status] == ["failed", "failed"]
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [dead_letter.pk]
    dead_letter.refresh_from_db()
    assert dead_letter.replay_count == 2
    assert dead_letter.replay_result.startswith("failed again: ")
    # each deliberate attempt is a batch of its own, claimed once
    assert IngestBatch.objects.filter(batch=replay_batch_id(dead_letter.pk, 1)).count() == 1
    assert IngestBatch.objects.filter(batch=replay_batch_id(dead_letter.pk, 2)).count() == 1

    (third,) = replay([dead_letter.pk])

    assert (third.status, third.replay_count) == ("stored", 3)
    assert TelemetryReading.objects.filter(value=666).count() == 1


def test_an_attempt_already_stored_counts_as_stored_and_stores_nothing_more(dead_letter):
    """A request that computed the same attempt as one already stored (say, two SQLite writers) meets the
    ingest claim of the attempt's batch id."""
    (first,) = replay([dead_letter.pk])
    DeadLetter.objects.filter(pk=dead_letter.pk).update(replay_count=0, replay_result="")  # the stale view

    (again,) = replay([dead_letter.pk])

    assert (first.status, again.status) == ("stored", "stored")
    assert "earlier request" in again.detail
    assert TelemetryReading.objects.filter(value=666).count() == 1


def test_replaying_the_message_of_a_deleted_connection_fails_and_says_why(dead_letter):
    dead_letter.connection.delete()

    (result,) = replay([dead_letter.pk])

    assert result.status == "failed"
    assert result.replay_result == f"failed again: connection {dead_letter.connection_id} no longer exists"
    assert DeadLetter.objects.count() == 1
