"""Readings have no database foreign keys (a deferred FK check per row cost more than the rows), so deleting
a connection, topic or site while a batch of theirs is being stored must still leave no orphan reading:
the delete waits for the batch's transaction, then cascades to what it committed."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db
from django.db import connections

from mqtt_app.ingest import persist, service
from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading

from .conftest import make_batch

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


@pytest.mark.skipif(
    "db.vendor != 'postgresql'",
    reason="SQLite serialises all writers, so this race cannot happen there; CI (.ci/run) runs it on PostgreSQL",
)
@pytest.mark.parametrize("victim", ["connection", "topic", "site", "connection queryset"])
def test_a_delete_waits_for_the_batch_in_flight_and_removes_what_it_stored(victim, monkeypatch):
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    service.ingest_batch(make_batch(conn.pk, [("plain/t", b"1")]), announce=False)  # the topic exists
    topic = MqttTopic.objects.get(connection=conn, topic="plain/t")

    copied, release = threading.Event(), threading.Event()
    real_save = persist.save_readings

    def save_then_stall(rows):  # noqa: ANN001, ANN202
        count = real_save(rows)
        copied.set()  # the readings are written, the transaction still open
        assert release.wait(10)
        return count

    monkeypatch.setattr(service, "save_readings", save_then_stall)
    batch = make_batch(conn.pk, [("plain/t", b"2"), ("plain/t", b"3")])
    ingest, ingest_errors = run_in_thread(lambda: service.ingest_batch(batch, announce=False))
    assert copied.wait(10)

    delete = {
        "connection": lambda: MqttConnection.objects.get(pk=conn.pk).delete(),
        "topic": lambda: MqttTopic.objects.get(pk=topic.pk).delete(),
        "site": lambda: Site.objects.get(pk=site.pk).delete(),
        "connection queryset": lambda: MqttConnection.objects.filter(pk=conn.pk).delete(),
    }[victim]
    deleter, delete_errors = run_in_thread(delete)
    deleter.join(1.0)
    assert deleter.is_alive(), "the delete must wait for the batch's transaction"

    release.set()
    ingest.join(10)
    deleter.join(10)
    assert not ingest_errors and not delete_errors, (ingest_errors, delete_errors)
    assert not MqttTopic.objects.filter(pk=topic.pk).exists()
    assert orphan_readings() == 0
    assert TelemetryReading.objects.filter(topic_id=topic.pk).count() == 0


def test_a_topic_deleted_while_its_batch_is_parsed_is_discovered_again(monkeypatch):
    """The batch reads its topics and parses before locking; a topic deleted in that gap gets a new row under
    the lock, like a topic never seen, and its messages are stored there (never under the deleted row)."""
    site = Site.objects.create(name="Plant")
    conn = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    service.ingest_batch(make_batch(conn.pk, [("plain/a", b"1"), ("plain/b", b"1")]), announce=False)
    doomed = MqttTopic.objects.get(connection=conn, topic="plain/a")
    real_known = service.known_topics

    def known_then_delete(parts):  # noqa: ANN001, ANN202
        found = real_known(parts)
        MqttTopic.objects.filter(pk=doomed.pk).delete()  # committed before the batch locks anything
        return found

    monkeypatch.setattr(service, "known_topics", known_then_delete)
    outcome = service.ingest_batch(make_batch(conn.pk, [("plain/a", b"2"), ("plain/b", b"2")]), announce=False)

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
    service.ingest_batch(make_batch(conn.pk, [("plain/off", b"1"), ("site/json", b'{"t": 1}')]), announce=False)
    real_known = service.known_topics

    def known_then_edit(parts):  # noqa: ANN001, ANN202
        found = real_known(parts)
        MqttTopic.objects.filter(connection=conn, topic="plain/off").update(is_processable=False)
        MqttTopic.objects.filter(connection=conn, topic="site/json").update(parser_name="plain_number")
        return found

    monkeypatch.setattr(service, "known_topics", known_then_edit)
    outcome = service.ingest_batch(
        make_batch(conn.pk, [("plain/off", b"2"), ("site/json", b'{"t": 2}')]), announce=False
    )

    assert (outcome.status, outcome.readings, outcome.errors) == ("stored", 0, 1)  # {"t": 2} is not a number
    assert TelemetryReading.objects.filter(connection=conn).count() == 2  # the first batch's only
    assert MqttTopic.objects.get(connection=conn, topic="site/json").error_count == 1
