"""The batch's wire format (columns, msgpack, raw payloads): decoded leniently per message, strictly per envelope."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from datetime import UTC, datetime

import pytest
from kombu.serialization import dumps, loads

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.ingest.wire import BadBatch, decode_batch
from mqtt_app.models import MqttTopic, TelemetryReading
from tests.ingest.batches import make_multi_batch

BINARY = bytes(range(256))
AT = 1_790_000_000.25


def through_msgpack(batch: dict) -> dict:
    """What the worker gets: the batch as Celery's msgpack serializer carries it."""
    content_type, encoding, body = dumps(([batch], {}, {}), serializer="msgpack")
    return loads(body, content_type, encoding, accept=[content_type])[0][0]


def part(**overrides: list) -> dict:
    fields = {
        "connection_id": 7,
        "topics": ["a/b", "c"],
        "payloads": [BINARY, b"1"],
        "qos": [1, 0],
        "retain": [False, True],
        "received_at": [AT, AT],
    }
    return fields | overrides


def test_columns_decode_to_messages_with_raw_payloads():
    batch = through_msgpack({"id": str(uuid.uuid4()), "listener": "L1", "parts": [part()]})
    assert batch["parts"][0]["payloads"] == [BINARY, b"1"]  # bytes survive msgpack as bytes
    (decoded,) = decode_batch(batch).parts
    when = datetime.fromtimestamp(AT, tz=UTC)
    assert [(m.topic, m.payload, m.qos, m.retain, m.received_at) for m in decoded.messages] == [
        ("a/b", BINARY, 1, False, when),
        ("c", b"1", 0, True, when),
    ]
    as_text = part(payloads=[base64.b64encode(BINARY).decode(), "MQ=="])  # text is no payload: skipped
    assert decode_batch({"id": str(uuid.uuid4()), "parts": [as_text]}).parts[0].skipped == 2


def test_bad_entries_in_columns_are_skipped_and_counted():
    bad = part(
        topics=["ok", "", "nul\x00", 5, "bad-payload", "bad-time", "ok2"],
        payloads=[b"1", b"2", b"3", b"4", "not bytes", b"6", b"7"],
        qos=[1] * 7,
        retain=[False] * 7,
        received_at=[AT, AT, AT, AT, AT, "never", AT + 1],
    )
    (decoded,) = decode_batch({"id": str(uuid.uuid4()), "parts": [bad]}).parts
    assert [m.topic for m in decoded.messages] == ["ok", "ok2"] and decoded.skipped == 5


@pytest.mark.parametrize(
    "broken",
    [part(qos=[1]), part(received_at=None), {"connection_id": 7, "topics": []}],
)
def test_columns_of_different_lengths_or_missing_make_the_batch_unusable(broken):
    with pytest.raises(BadBatch):
        decode_batch({"id": str(uuid.uuid4()), "parts": [broken]})


@pytest.mark.django_db
def test_a_batch_through_msgpack_is_stored_with_its_binary_payloads(connection):
    batch = make_multi_batch(
        {connection.pk: [("home/kitchen/temperature", b"21.5"), ("cam/1", BINARY), ("home/kitchen/temperature", b"22")]}
    )
    outcome = ingest_batch(through_msgpack(batch))
    assert (outcome.status, outcome.readings) == ("stored", 2)
    assert sorted(TelemetryReading.objects.values_list("value", flat=True)) == [21.5, 22.0]
    assert bytes(MqttTopic.objects.get(topic="cam/1").last_payload) == BINARY


def test_the_listeners_send_time_is_kept_and_anything_else_there_is_ignored():
    envelope = {"id": str(uuid.uuid4()), "listener": "L1", "parts": [part()]}
    assert decode_batch(through_msgpack(envelope | {"sent_at": AT + 0.5})).sent_at == AT + 0.5
    assert decode_batch(envelope).sent_at is None  # none sent: the batch is untimed
    for junk in ("soon", True, float("inf"), float("nan"), None, [AT]):
        batch = decode_batch(envelope | {"sent_at": junk})
        assert batch.sent_at is None and batch.message_count == 2  # only a timing: the batch is whole


@pytest.mark.django_db
def test_a_stored_batch_logs_where_its_time_went_when_its_timing_logger_is_on(connection, caplog):
    batch = make_multi_batch({connection.pk: [("home/a", b"1"), ("home/b", b"2")]}, at=time.time() - 0.2)
    batch["sent_at"] = time.time() - 0.1
    with caplog.at_level(logging.DEBUG, logger="mqtt_app.ingest.timing"):
        ingest_batch(through_msgpack(batch))
        ingest_batch(through_msgpack(batch))  # the redelivery stores nothing: nothing to time
        unsent = {key: value for key, value in batch.items() if key != "sent_at"} | {"id": str(uuid.uuid4())}
        ingest_batch(through_msgpack(unsent))
    lines = [record.getMessage() for record in caplog.records if record.name == "mqtt_app.ingest.timing"]
    assert len(lines) == 2
    fields = dict(item.split("=") for item in lines[0].split())
    assert fields["batch"] == str(uuid.UUID(batch["id"])) and fields["messages"] == "2"
    received, sent, started, committed = (float(fields[k]) for k in ("received", "sent", "started", "committed"))
    assert received == pytest.approx(batch["parts"][0]["received_at"][0], abs=1e-3)  # its oldest message
    assert received < sent < started <= committed <= time.time()
    assert "sent=-" in lines[1]  # no sent_at from the listener: still timed, that stage unknown


@pytest.mark.django_db
def test_no_timing_is_logged_by_default(connection, caplog):
    with caplog.at_level(logging.INFO):
        ingest_batch(make_multi_batch({connection.pk: [("home/a", b"1")]}))
    assert not [record for record in caplog.records if record.name == "mqtt_app.ingest.timing"]
