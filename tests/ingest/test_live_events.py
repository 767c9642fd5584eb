"""After commit a batch sends one coalesced event per kind to its connection's group, never one per message."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from mqtt_app.events import connection_group
from mqtt_app.ingest import live
from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttTopic
from tests.helpers import wait_for
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _held_back_events_sent():
    """A test's held-back events go out up to a second after it: wait for them, or the next test, whose rolled
    back ids repeat on SQLite, would receive them."""
    yield
    wait_for(lambda: not live._coalescer.scheduled, timeout=5, what="the held-back events to be sent")


def subscribe(connection_id: int) -> str:
    layer = get_channel_layer()
    channel = live._loop.run(layer.new_channel())
    live._loop.run(layer.group_add(connection_group(connection_id), channel))
    return channel


def receive(channel: str, count: int) -> list[dict]:
    layer = get_channel_layer()
    return [live._loop.run(layer.receive(channel), timeout=5)["payload"] for _ in range(count)]


def test_a_batch_sends_one_event_per_kind_with_the_latest_value_per_topic(connection):
    channel = subscribe(connection.pk)
    messages = [(f"home/room{r}/temperature", str(20 + v).encode()) for v in range(5) for r in range(10)]

    outcome = ingest_batch(make_batch(connection.pk, messages + [("home/room0/temperature", b"warm")]))

    events = {event["type"]: event for event in receive(channel, outcome.events)}
    assert outcome.events == 4
    assert set(events) == {"topic.discovered", "readings", "parsing.error", "stats"}
    assert len(events["topic.discovered"]["topics"]) == 10
    readings = events["readings"]["readings"]
    assert len(readings) == 10 and {r["value"] for r in readings} == {24.0}
    room0 = MqttTopic.objects.get(topic="home/room0/temperature")
    assert events["readings"]["counts"][str(room0.pk)] == 6
    assert events["parsing.error"]["error_kind"] == "validation" and events["parsing.error"]["count"] == 1
    assert events["stats"]["messages_received"] == 51


def test_live_readings_are_coalesced_to_the_per_second_rate_and_held_back_values_flushed_when_the_window_ends(
    settings,
):
    settings.MQTT_LIVE_READINGS_PER_SECOND = 2.0
    coalescer = live.Coalescer()
    now = timezone.now()
    row = (1, 7, "dev", "temp", "number", 1.0, "", "", now, now)

    def update(value: float | None, count: int) -> live.LiveUpdate:
        latest = {} if value is None else {(7, "temp"): ("t", row[:5] + (value,) + row[6:])}
        return live.LiveUpdate(connection_id=1, latest=latest, counts={7: count})

    first = coalescer.readings(update(1.0, 1))
    held = coalescer.readings(update(2.0, 3))
    also_held = coalescer.readings(update(None, 1))
    timers = set(coalescer.scheduled)
    flushed = coalescer.flush("readings", 1)

    assert [r["value"] for r in first["payload"]["readings"]] == [1.0] and first["payload"]["counts"] == {"7": 1}
    assert held is None and also_held is None
    assert [r["value"] for r in flushed["payload"]["readings"]] == [2.0] and flushed["payload"]["counts"] == {"7": 4}
    assert timers == {("readings", 1)}  # one timer for the window, however many batches it held back
    assert coalescer.flush("readings", 1) is None  # nothing held since


def test_the_last_value_of_a_burst_reaches_the_group_without_another_batch(connection, settings):
    settings.MQTT_LIVE_READINGS_PER_SECOND = 4.0
    channel = subscribe(connection.pk)

    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"1")]))
    held = ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"2")]))

    assert held.events == 0  # the second value came within the window of the first
    values = []
    while 2.0 not in values:  # the flush at the end of the window sends it (receive fails after 5 s)
        event = receive(channel, 1)[0]
        values += [r["value"] for r in event.get("readings", [])]
    assert values == [1.0, 2.0]


def test_stats_held_back_in_a_second_are_sent_when_it_ends(connection):
    channel = subscribe(connection.pk)

    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"1")]))
    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"2"), ("home/a/temperature", b"3")]))

    totals = []
    while 3 not in totals:
        event = receive(channel, 1)[0]
        if event["type"] == "stats":
            totals.append(event["messages_received"])
    assert totals == [1, 3]


def test_the_readings_message_is_exactly_what_the_documented_event_model_gives():
    """live.py builds ReadingsEvent messages without a model per reading: same JSON, every value type."""
    from mqtt_app.events import LatestReading, ReadingsEvent, message_for

    at = timezone.now()
    rows = {
        (7, "temp"): ("a/t", (1, 7, "dev", "temp", "number", 21.5, "", "°C", at, at)),
        (7, "none"): ("a/t", (1, 7, "dev", "none", "number", None, "", "", at.replace(microsecond=0), at)),
        (8, "on"): ("a/s", (1, 8, "", "on", "boolean", 1.0, "", "", at, at)),
        (9, "state"): ("a/x", (1, 9, "d", "state", "text", None, "idle", "", at, at)),
    }
    values = {"temp": 21.5, "none": None, "on": True, "state": "idle"}
    event = ReadingsEvent(
        connection=1,
        readings=[
            LatestReading(
                topic_id=key[0],
                topic=topic,
                device=row[2],
                metric=row[3],
                value=values[row[3]],
                unit=row[7],
                timestamp=row[8],
            )
            for key, (topic, row) in rows.items()
        ],
        counts={7: 2, 8: 1, 9: 1},
        published_at=12.5,
    )

    assert live.readings_message(1, rows, {7: 2, 8: 1, 9: 1}, 12.5) == message_for(event)


def test_a_channel_layer_failure_does_not_fail_the_batch(connection, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }

    outcome = ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"1")]))

    assert outcome.status == "stored" and outcome.events == 0


def test_a_connection_nobody_watches_gets_no_events_built_until_a_browser_subscribes(connection, monkeypatch):
    """Events for a group with no WebSocket in it are skipped; the group is re-read after UNWATCHED_TTL."""
    monkeypatch.setattr(live.Watchers, "UNWATCHED_TTL", 60.0)
    first = ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"1")]))
    assert (first.status, first.events) == ("stored", 0)

    channel = subscribe(connection.pk)
    cached = ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"2")]))
    assert cached.events == 0  # "nobody" is remembered for UNWATCHED_TTL

    live._watchers.known.clear()  # as if UNWATCHED_TTL had passed
    seen = ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"3")]))
    events = {event["type"]: event for event in receive(channel, seen.events)}
    assert [r["value"] for r in events["readings"]["readings"]] == [3.0]


def test_the_latest_value_per_topic_and_metric_is_the_last_row_and_is_worked_out_only_when_asked():
    from mqtt_app.ingest.topics import TopicBatch, TopicRow

    at = timezone.now()
    rows = [
        (1, 7, "dev", "temp", "number", 20.0, "", "", at, at),
        (1, 7, "dev", "hum", "number", 40.0, "", "", at, at),
        (1, 8, "dev", "temp", "number", 5.0, "", "", at, at),
        (1, 7, "dev", "temp", "number", 21.0, "", "", at, at),
    ]
    topics = [TopicBatch(TopicRow(7, "a/t", True, "senml"), []), TopicBatch(TopicRow(8, "a/u", True, "senml"), [])]
    update = live.LiveUpdate(connection_id=1, rows=list(rows), topics=topics)
    assert update.latest == {}  # nothing per reading at parse time

    latest = update.latest_values()

    assert latest == {(7, "temp"): ("a/t", rows[3]), (7, "hum"): ("a/t", rows[1]), (8, "temp"): ("a/u", rows[2])}
    assert update.latest_values() is latest and update.rows == []  # once


def watch_topic(connection_id: int, topic_id: int) -> str:
    """A channel in a topic's group and its connection's topic-watch group, as a topic page's socket is."""
    from mqtt_app.events import topic_group, topic_watch_group

    layer = get_channel_layer()
    channel = live._loop.run(layer.new_channel())
    live._loop.run(layer.group_add(topic_watch_group(connection_id), channel))
    live._loop.run(layer.group_add(topic_group(topic_id), channel))
    live._watchers.known.clear()
    return channel


def test_a_watched_topic_gets_every_reading_of_a_batch_in_order_and_other_topics_none(
    connection, settings, monkeypatch
):
    settings.MQTT_LIVE_TOPIC_POINTS_PER_SECOND = 1000.0  # the batch's messages are 1 ms apart (make_batch)
    monkeypatch.setattr(live, "_topics", live.TopicStream())
    ingest_batch(make_batch(connection.pk, [("home/a/temperature", b"0"), ("home/b/temperature", b"0")]))
    topic = MqttTopic.objects.get(topic="home/a/temperature")
    channel = watch_topic(connection.pk, topic.pk)
    messages = [(f"home/{t}/temperature", str(v).encode()) for v in range(1, 6) for t in "ab"]

    outcome = ingest_batch(make_batch(connection.pk, messages))

    (event,) = receive(channel, outcome.events)  # the connection group has no member: nothing else is built
    assert event["type"] == "topic.readings" and event["topic_id"] == topic.pk
    assert [r["value"] for r in event["readings"]] == [1.0, 2.0, 3.0, 4.0, 5.0] and event["thinned"] == 0


def test_a_series_faster_than_the_point_rate_is_thinned_keeping_its_last_reading_and_says_how_many(settings):
    from datetime import timedelta

    from mqtt_app.ingest.topics import TopicBatch, TopicRow

    settings.MQTT_LIVE_TOPIC_POINTS_PER_SECOND = 10.0  # one point per 100 ms of reading time
    start = timezone.now()
    rows = [
        (1, 7, "d", "temp", "number", float(n), "", "", start + timedelta(milliseconds=20 * n), start)
        for n in range(12)
    ]
    update = live.LiveUpdate(connection_id=1, rows=rows, topics=[TopicBatch(TopicRow(7, "a/t", True, "x"), [])])

    ((group, message),) = live.TopicStream().messages(update, {7})

    payload = message["payload"]
    assert group == "mqtt.topic.7"
    assert [r["value"] for r in payload["readings"]] == [0.0, 5.0, 10.0, 11.0]
    assert payload["thinned"] == 8


def test_the_topic_readings_message_is_what_the_documented_event_model_gives():
    from mqtt_app.events import TopicReading, TopicReadingsEvent, message_for
    from mqtt_app.ingest.topics import TopicBatch, TopicRow

    at = timezone.now()
    rows = [(1, 7, "dev", "temp", "number", 21.5, "", "°C", at, at), (1, 7, "", "on", "boolean", 1.0, "", "", at, at)]
    update = live.LiveUpdate(
        connection_id=1, rows=rows, topics=[TopicBatch(TopicRow(7, "a/t", True, "x"), [])], published_at=3.5
    )
    event = TopicReadingsEvent(
        connection=1,
        topic_id=7,
        topic="a/t",
        readings=[
            TopicReading(device="dev", metric="temp", value=21.5, unit="°C", timestamp=at),
            TopicReading(device="", metric="on", value=True, unit="", timestamp=at),
        ],
        published_at=3.5,
    )

    ((_, message),) = live.TopicStream().messages(update, {7})

    assert message == message_for(event)
