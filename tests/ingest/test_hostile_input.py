"""No payload, however hostile, fails the messages beside it: it is stored safely, recorded as a parse error, or
kept as a dead letter, and the rest of its batch is stored."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection as db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import DeadLetter, IngestBatch, MqttConnection, MqttParsingLog, TelemetryReading
from tests.ingest.batches import make_batch

HOSTILE = [
    ("gen/surrogate-key", b'{"\\ud800": 1}'),
    ("zigbee2mqtt/sensor", b'{"temperature": 1, "\\udfff": 2}'),
    ("gen/surrogate-value", b'{"label": "x\\udc80y", "n": 3}'),
    ("gen/nul", b'{"a\\u0000b": 1, "t": "nul\\u0000here"}'),
    ("gen/raw-nul", b"12\x00.5"),
    ("gen/control", b'{"\\u0001\\u001f": 5}'),
    ("gen/huge-int", b'{"v": 1' + b"0" * 400 + b"}"),
    ("gen/big-float", b'{"v": 1e400}'),
    ("gen/deep", b'{"a":' * 5000 + b"1" + b"}" * 5000),
    ("gen/not-utf8", b"\xff\xfe\xfa"),
    ("gen/empty", b""),
    ("gen/long-key", b'{"' + b"k" * 5000 + b'": 1}'),
    ("gen/long-unit", b'{"n": 1, "unit": "' + b"u" * 500 + b'"}'),
]


def numbered(count: int) -> list[tuple[str, bytes]]:
    return [("count/seq", json.dumps({"seq": n}).encode()) for n in range(count)]


def seqs() -> list[float]:
    return sorted(TelemetryReading.objects.filter(metric="seq").values_list("value", flat=True))


@pytest.mark.django_db(transaction=True)
def test_hostile_payloads_in_the_middle_of_a_stream_lose_none_of_it(connection):
    stream = numbered(200)
    messages = stream[:100] + HOSTILE + stream[100:]

    outcome = ingest_batch(make_batch(connection.pk, messages))

    assert outcome.status == "stored"
    assert seqs() == [float(n) for n in range(200)]
    connection.refresh_from_db()
    assert connection.messages_received == len(messages)
    assert outcome.dead_letters == 0  # every hostile payload was parsed safely or recorded as an error
    stored = set(TelemetryReading.objects.values_list("device", "metric", "text_value"))
    assert all("\x00" not in "".join(row) for row in stored)
    for row in stored:
        "".join(row).encode("utf-8")  # nothing a database cannot hold


@pytest.mark.django_db(transaction=True)
def test_a_lone_surrogate_key_is_stored_with_a_replacement_character(connection):
    ingest_batch(make_batch(connection.pk, [("gen/surrogate-key", b'{"\\ud800": 1}')]))

    assert list(TelemetryReading.objects.values_list("metric", "value")) == [("\ufffd", 1.0)]


def refuse_value(value: float) -> None:
    """Make the database itself refuse readings of `value`: what no check before the database foresaw."""
    table = TelemetryReading._meta.db_table
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT refuse_test_value CHECK (value <> {value})")
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_test_value BEFORE INSERT ON {table} WHEN NEW.value = {value} "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )


def allow_values() -> None:
    table = TelemetryReading._meta.db_table
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS refuse_test_value")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_test_value")


@pytest.fixture
def refusing_database(transactional_db):
    refuse_value(666)
    yield
    allow_values()


def test_a_message_the_database_refuses_is_a_dead_letter_and_the_rest_is_stored(connection, refusing_database):
    stream = numbered(300)
    poison = ("gen/poison", b'{"v": 666}')
    batch = make_batch(connection.pk, stream[:150] + [poison] + stream[150:])

    outcome = ingest_batch(batch)

    assert outcome.status == "stored"
    assert outcome.dead_letters == 1
    assert seqs() == [float(n) for n in range(300)]
    (letter,) = DeadLetter.objects.all()
    assert (letter.topic, bytes(letter.payload), letter.connection_id) == ("gen/poison", b'{"v": 666}', connection.pk)
    assert "refuse" in letter.error or "check" in letter.error.lower()
    connection.refresh_from_db()
    assert connection.messages_received == 301
    assert connection.messages_failed >= 1


def test_a_redelivered_batch_that_was_stored_in_parts_stores_nothing_twice(connection, refusing_database):
    batch = make_batch(connection.pk, numbered(40)[:20] + [("gen/poison", b'{"v": 666}')] + numbered(40)[20:])

    first, second = ingest_batch(batch), ingest_batch(batch)

    assert (first.status, first.dead_letters) == ("stored", 1)
    assert second.messages == 0 or second.status == "duplicate"
    assert seqs() == [float(n) for n in range(40)]
    assert DeadLetter.objects.count() == 1


def test_a_batch_split_by_a_killed_worker_is_finished_by_its_redelivery(connection, refusing_database):
    """The first delivery marked the batch split and stored one half, then died: the redelivery stores the
    other half only, never the batch whole on top of the stored half (even once the cause is gone)."""
    from mqtt_app.ingest.isolate import _mark_split, _sub_batch
    from mqtt_app.ingest.service import store_batch
    from mqtt_app.ingest.wire import decode_batch

    raw = make_batch(connection.pk, numbered(10))
    batch = decode_batch(raw)
    assert _mark_split(batch)
    messages = [(p.connection_id, m) for p in batch.parts for m in p.messages]
    store_batch(_sub_batch(batch, 0, messages[:5], {}))
    allow_values()

    outcome = ingest_batch(raw)

    assert seqs() == [float(n) for n in range(10)]
    assert outcome.messages == 5
    assert IngestBatch.objects.filter(split=True).count() == 1


@pytest.mark.django_db(transaction=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    topic=st.text(min_size=1, max_size=80).filter(lambda t: "\x00" not in t and "+" not in t and "#" not in t),
    payload=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=40),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
            max_leaves=12,
        ).map(lambda value: json.dumps(value, ensure_ascii=True).encode()),
        st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
)
def test_any_topic_and_payload_leaves_the_rest_of_its_batch_stored(connection, topic, payload):
    before = set(seqs())
    base = len(before) // 4
    stream = [("count/seq", json.dumps({"seq": base * 4 + n}).encode()) for n in range(4)]

    outcome = ingest_batch(make_batch(connection.pk, [stream[0], stream[1], (topic, payload), stream[2], stream[3]]))

    assert outcome.status == "stored"
    assert set(seqs()) - before == {float(base * 4 + n) for n in range(4)}


@pytest.mark.django_db(transaction=True)
def test_a_parser_returning_a_bad_timestamp_is_a_parse_error_not_a_failed_batch(connection, settings):
    settings.MQTT_PARSERS = ["tests.ingest.parsers.BadClockParser"]  # the registry rebuilds on this change

    outcome = ingest_batch(make_batch(connection.pk, [("badclock/1", b"x"), *numbered(3)]))

    assert outcome.status == "stored"
    assert seqs() == [0.0, 1.0, 2.0]
    assert MqttParsingLog.objects.filter(topic_name="badclock/1").exists()
    assert not DeadLetter.objects.exists()


def test_a_batch_whose_connection_is_gone_is_not_a_dead_letter(transactional_db, connection):
    batch = make_batch(connection.pk, numbered(3), batch_id=str(uuid.uuid4()))
    MqttConnection.objects.filter(pk=connection.pk).delete()

    assert ingest_batch(batch).status == "no_connection"
    assert not DeadLetter.objects.exists()
