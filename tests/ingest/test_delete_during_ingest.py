"""Readings have no database foreign keys (a deferred FK check per row cost more than the rows), so deleting
a connection, topic or site while a batch of theirs is being stored must still leave no orphan reading:
the delete waits for the batch's transaction, then cascades to what it committed."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db
from django.db import connections

from mqtt_app.ingest import persist, pipeline, service
from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db(transaction=True)


def orphan_readings() -> int:
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {TelemetryReading._meta.db_table} r "  # noqa: S608 - our own table names
            f"LEFT JOIN {MqttTopic._meta.db_table} t ON t.id = r.topic_id "
            f"LEFT JOIN {MqttConnection._meta.db_table} c ON c.id = r.connection_id "
            "WHERE t.id IS NULL OR c.id IS NULL"
        )
        return cursor.fetchone()[0]


def run_in_thread(fn) -> tuple[threading.Thread, list]:  # noqa: ANN001
    errors: list = []

    def target() -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


POSTGRESQL_ONLY = pytest.mark.skipif(
    "db.vendor != 'postgresql'",
    reason="SQLite serialises all writers, so this race cannot happen there; CI (.ci/run) runs it on PostgreSQL",
)
DELETES = {
    "connection": lambda conn, topic: MqttConnection.objects.get(pk=conn.pk).delete(),
    "topic": lambda conn, topic: MqttTopic.objects.get(pk=topic.pk).delete(),
    "site": lambda conn, topic: Site.objects.get(pk=conn.site_id).delete(),
    "connection queryset": lambda conn, topic: MqttConnection.objects.filter(pk=conn.pk).delete(),
}


def _connection_with_a_topic() -> tuple[MqttConnection, MqttTopic]:
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    pipeline.ingest_batch(make_batch(conn.pk, [("plain/t", b"1")]), announce=False)  # the topic exists
    return conn, MqttTopic.objects.get(connection=conn, topic="plain/t")


@POSTGRESQL_ONLY
@pytest.mark.parametrize("victim", list(DELETES))
def test_a_delete_waits_for_the_batch_holding_the_locks_and_removes_what_it_stored(victim, monkeypatch):
    conn, topic = _connection_with_a_topic()
    claimed, release = threading.Event(), threading.Event()
    real_claim = service._claim

    def claim_then_stall(*args):  # noqa: ANN002, ANN202
        done = real_claim(*args)
        claimed.set()  # the connection's lock held, the readings written, the transaction still open
        assert release.wait(10)
        return done

    monkeypatch.setattr(service, "_claim", claim_then_stall)
    batch = make_batch(conn.pk, [("plain/t", b"2"), ("plain/t", b"3")])
    ingest, ingest_errors = run_in_thread(lambda: pipeline.ingest_batch(batch, announce=False))
    assert claimed.wait(10)

    deleter, delete_errors = run_in_thread(lambda: DELETES[victim](conn, topic))
    deleter.join(1.0)
    assert deleter.is_alive(), "the delete must wait for the batch's transaction"

    release.set()
    ingest.join(10)
    deleter.join(10)
    assert not ingest_errors and not delete_errors, (ingest_errors, delete_errors)
    assert not MqttTopic.objects.filter(pk=topic.pk).exists()
    assert orphan_readings() == 0
    assert TelemetryReading.objects.filter(topic_id=topic.pk).count() == 0


@POSTGRESQL_ONLY
@pytest.mark.parametrize("victim", list(DELETES))
def test_a_delete_between_the_early_copy_and_the_locks_makes_the_batch_start_again(victim, monkeypatch):
    """The known topics' readings are written before the batch takes its locks, so a delete does not wait for
    that COPY. The locks then show what changed: that transaction is rolled back, and the batch is stored
    again from the rows as they are now (a deleted topic is discovered again; a deleted connection's part
    is dropped). Nothing is left under a deleted row."""
    conn, topic = _connection_with_a_topic()
    real_save = persist.save_readings
    calls: list[int] = []

    def save_then_delete(rows):  # noqa: ANN001, ANN202
        count = real_save(rows)
        if not calls:  # the first attempt's early COPY: no lock held yet, the delete goes through
            deleter, errors = run_in_thread(lambda: DELETES[victim](conn, topic))
            deleter.join(10)
            assert not deleter.is_alive() and not errors, errors
        calls.append(len(rows))
        return count

    monkeypatch.setattr(service, "save_readings", save_then_delete)
    outcome = pipeline.ingest_batch(make_batch(conn.pk, [("plain/t", b"2"), ("plain/t", b"3")]), announce=False)

    assert calls[0] == 2  # written before the locks, then rolled back
    assert orphan_readings() == 0
    assert not MqttTopic.objects.filter(pk=topic.pk).exists()
    if victim == "topic":
        assert (outcome.status, outcome.readings, outcome.new_topics) == ("stored", 2, 1)
        reborn = MqttTopic.objects.get(connection=conn, topic="plain/t")
        assert sorted(reborn.readings.values_list("value", flat=True)) == [2.0, 3.0]
        assert reborn.message_count == 2
    else:
        assert outcome.status == "no_connection"
        assert TelemetryReading.objects.count() == 0


def test_a_topic_deleted_while_its_batch_is_parsed_is_discovered_again(monkeypatch):
    """The batch reads its topics and parses before locking; a topic deleted in that gap gets a new row under
    the lock, like a topic never seen, and its messages are stored there (never under the deleted row)."""
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    pipeline.ingest_batch(make_batch(conn.pk, [("plain/a", b"1"), ("plain/b", b"1")]), announce=False)
    doomed = MqttTopic.objects.get(connection=conn, topic="plain/a")
    real_known = service.known_topics

    def known_then_delete(parts):  # noqa: ANN001, ANN202
        found = real_known(parts)
        MqttTopic.objects.filter(pk=doomed.pk).delete()  # committed before the batch locks anything
        return found

    monkeypatch.setattr(service, "known_topics", known_then_delete)
    outcome = pipeline.ingest_batch(make_batch(conn.pk, [("plain/a", b"2"), ("plain/b", b"2")]), announce=False)

    assert (outcome.status, outcome.readings, outcome.dropped, outcome.new_topics) == ("stored", 2, 0, 1)
    assert orphan_readings() == 0
    reborn = MqttTopic.objects.get(connection=conn, topic="plain/a")
    assert reborn.pk != doomed.pk and reborn.message_count == 1
    stored = TelemetryReading.objects.filter(connection=conn).values_list("topic__topic", "value")
    assert sorted(stored) == [("plain/a", 2.0), ("plain/b", 1.0), ("plain/b", 2.0)]


def test_a_parser_changed_while_the_batch_was_parsed_is_applied_to_that_batch(monkeypatch):
    """Settings read before the lock (or cached by the process) are checked under it: a topic switched off
    in the gap stores no reading from this batch, one given another parser is parsed with the new one."""
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    pipeline.ingest_batch(make_batch(conn.pk, [("plain/off", b"1"), ("site/json", b'{"t": 1}')]), announce=False)
    real_known = service.known_topics

    def known_then_edit(parts):  # noqa: ANN001, ANN202
        found = real_known(parts)
        MqttTopic.objects.filter(connection=conn, topic="plain/off").update(is_processable=False)
        MqttTopic.objects.filter(connection=conn, topic="site/json").update(parser_name="plain_number")
        return found

    monkeypatch.setattr(service, "known_topics", known_then_edit)
    outcome = pipeline.ingest_batch(
        make_batch(conn.pk, [("plain/off", b"2"), ("site/json", b'{"t": 2}')]), announce=False
    )

    assert (outcome.status, outcome.readings, outcome.errors) == ("stored", 0, 1)  # {"t": 2} is not a number
    assert TelemetryReading.objects.filter(connection=conn).count() == 2  # the first batch's only
    assert MqttTopic.objects.get(connection=conn, topic="site/json").error_count == 1
