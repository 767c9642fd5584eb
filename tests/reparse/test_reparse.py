"""Re-parsing archived payloads: a topic whose payloads failed under one parser gets every one of them as readings
after switching the parser, a second run changes nothing, fixed error groups close, and the API refuses what it
cannot do with a reason."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from mqtt_app.ingest import reparse
from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttParsingLog, MqttTopic, ReparseJob, ReparseState, TelemetryReading
from tests.api.requests import patch_json, post_json
from tests.ingest.batches import make_batch

pytestmark = pytest.mark.django_db(transaction=True)
COUNT = 30


def postgresql() -> bool:
    return db.vendor == "postgresql"


def payloads(count: int = COUNT) -> list[tuple[str, bytes]]:
    return [("plant/boiler", json.dumps({"temperature": 20 + n, "seq": n}).encode()) for n in range(count)]


def archived_topic(connection, parser: str) -> MqttTopic:  # noqa: ANN001
    """A topic whose payloads are archived from its first message, parsed by `parser`."""
    connection.keep_raw_days = 7
    connection.save()
    now = timezone.now()
    return MqttTopic.objects.create(connection=connection, topic="plant/boiler", is_processable=True,
                                    parser_name=parser, parser_locked=True, first_seen_at=now,
                                    last_seen_at=now)  # fmt: skip


@pytest.fixture
def failing_topic(connection):
    """A topic archived from its first message, whose JSON payloads its chosen parser (plain numbers) rejects."""
    topic = archived_topic(connection, "plain_number")
    messages = payloads()
    for start in range(0, COUNT, 10):  # three batches
        assert ingest_batch(make_batch(connection.pk, messages[start : start + 10])).status == "stored"
    return topic


def readings(topic: MqttTopic) -> list[tuple]:
    rows = TelemetryReading.objects.filter(topic=topic).values_list("metric", "value", "received_at")
    return sorted(rows)


def job_for(topic: MqttTopic, parser: str = "") -> ReparseJob:
    now = timezone.now()
    return ReparseJob.objects.create(topic=topic, since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
                                     parser_name=parser or topic.parser_name)  # fmt: skip


def test_failed_payloads_become_readings_after_the_parser_is_fixed_and_a_second_run_changes_nothing(
    failing_topic, settings
):
    settings.MQTT_REPARSE_CHUNK = 7  # chunks end inside a batch's arrival times: none may be split
    assert readings(failing_topic) == [] and MqttParsingLog.objects.filter(topic=failing_topic).exists()
    MqttTopic.objects.filter(pk=failing_topic.pk).update(parser_name="generic_json")
    failing_topic.refresh_from_db()

    first = reparse.run(job_for(failing_topic).pk)
    after_one = readings(failing_topic)
    second = reparse.run(job_for(failing_topic).pk)

    assert (first.state, first.done, first.total, first.failures) == (ReparseState.DONE, COUNT, COUNT, 0)
    assert sorted(v for m, v, _ in after_one if m == "seq") == list(map(float, range(COUNT)))
    assert len(after_one) == 2 * COUNT
    assert readings(failing_topic) == after_one and second.readings == 2 * COUNT
    assert not MqttParsingLog.objects.filter(topic=failing_topic).exists()  # the group no longer fails: closed


def test_what_still_fails_stays_in_the_inbox_as_one_group_however_often_it_is_re_parsed(failing_topic):
    def groups() -> list[tuple]:
        return list(MqttParsingLog.objects.filter(topic=failing_topic).values_list("parser_name", "count"))

    first = reparse.run(job_for(failing_topic, "plain_number").pk)
    after_one = groups()
    reparse.run(job_for(failing_topic, "plain_number").pk)

    assert (first.state, first.failures, first.readings) == (ReparseState.DONE, COUNT, 0)
    assert after_one == groups() == [("plain_number", COUNT)]


def test_a_cancelled_job_stops_before_its_next_chunk(failing_topic):
    job = job_for(failing_topic, "generic_json")
    ReparseJob.objects.filter(pk=job.pk).update(state=ReparseState.CANCELLED)

    assert reparse.run(job.pk).state == ReparseState.CANCELLED and readings(failing_topic) == []


def test_the_api_starts_a_job_follows_it_and_refuses_what_it_cannot_do(failing_topic, staff_client):
    now = timezone.now()
    body = {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}
    url = f"/api/topics/{failing_topic.pk}/reparse"

    dry = post_json(staff_client, f"{url}/dry-run", {**body, "parser_name": "generic_json"}).json()
    started = post_json(staff_client, url, {**body, "parser_name": "generic_json"})
    again = post_json(staff_client, url, body)
    job = started.json()
    reparse.run(job["id"])  # what the Celery task runs
    followed = staff_client.get(f"/api/reparse-jobs/{job['id']}").json()

    assert dry == {"messages": COUNT, "readings": 2 * COUNT, "failures": 0, "errors": []}
    assert started.status_code == 202 and job["state"] == "queued" and job["parser_name"] == "generic_json"
    assert again.status_code == 409
    assert (followed["state"], followed["done"], followed["total"]) == ("done", COUNT, COUNT)
    assert [j["id"] for j in staff_client.get(f"/api/topics/{failing_topic.pk}/reparse-jobs").json()] == [job["id"]]
    refusals = {
        "until before since": {"since": body["until"], "until": body["since"]},
        "stateful parser": {**body, "parser_name": "sparkplug"},
        "unknown parser": {**body, "parser_name": "nope"},
    }
    for why, bad in refusals.items():
        answer = post_json(staff_client, url, bad)
        assert answer.status_code == 422 and answer.json()["errors"], why


def test_raw_payloads_download_as_json_lines(connection, staff_client):
    patch_json(staff_client, f"/api/connections/{connection.pk}", {"keep_raw_days": 3})
    from mqtt_app.ingest import archive

    archive.policy.forget()
    ingest_batch(make_batch(connection.pk, [("plant/x", b"12.5"), ("plant/x", b"\xff\x00")]))
    topic = MqttTopic.objects.get(topic="plant/x")

    answer = staff_client.get(f"/api/topics/{topic.pk}/raw")
    lines = [json.loads(line) for line in b"".join(answer.streaming_content).decode().splitlines()]

    assert [(line.get("payload"), line.get("payload_base64")) for line in lines] == [("12.5", None), (None, "/wA=")]
    assert staff_client.get(f"/api/connections/{connection.pk}").json()["keep_raw_days"] == 3


def test_the_charts_rollups_follow_the_replaced_readings(connection):
    from mqtt_app.history.rollup import roll_up
    from mqtt_app.models import SeriesRollup

    connection.keep_raw_days = 7
    connection.save()
    ingest_batch(make_batch(connection.pk, [("plant/level", b"12.5"), ("plant/level", b"13.5")]))
    topic = MqttTopic.objects.get(topic="plant/level")
    roll_up()
    before = set(SeriesRollup.objects.filter(topic=topic).values_list("metric", flat=True))
    MqttTopic.objects.filter(pk=topic.pk).update(parser_name="generic_json")  # a number is no JSON object

    reparse.run(job_for(MqttTopic.objects.get(pk=topic.pk)).pk)

    assert before == {"level"} and not SeriesRollup.objects.filter(topic=topic).exists()
    MqttTopic.objects.filter(pk=topic.pk).update(parser_name="plain_number")
    reparse.run(job_for(MqttTopic.objects.get(pk=topic.pk)).pk)
    minute = SeriesRollup.objects.get(topic=topic, width=60)
    assert (minute.metric, minute.count, minute.min, minute.max) == ("level", 2, 12.5, 13.5)


def test_a_range_older_than_re_parsing_reaches_is_refused(failing_topic, staff_client):
    old = timezone.now() - timedelta(days=400)
    body = {"since": old.isoformat(), "until": (old + timedelta(days=1)).isoformat()}

    answer = post_json(staff_client, f"/api/topics/{failing_topic.pk}/reparse", body)

    assert answer.status_code == 422 and "as far back as re-parsing reaches" in answer.json()["detail"]


def test_a_topic_deleted_during_a_job_gets_no_readings_back(failing_topic, monkeypatch):
    job = job_for(failing_topic, "generic_json")
    real = reparse.parse_topics

    def delete_then_parse(*args, **kwargs):  # the topic goes while its first chunk is being parsed
        MqttTopic.objects.filter(pk=failing_topic.pk).delete()
        return real(*args, **kwargs)

    monkeypatch.setattr(reparse, "parse_topics", delete_then_parse)

    reparse.run(job.pk)

    assert not TelemetryReading.objects.filter(topic_id=failing_topic.pk).exists()
    assert not ReparseJob.objects.filter(pk=job.pk).exists()


def test_a_job_the_queue_cannot_take_fails_at_once_with_a_503(failing_topic, staff_client, monkeypatch):
    from kombu.exceptions import OperationalError

    from tasks.reparse import reparse_topic

    def broker_away(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(reparse_topic, "apply_async", broker_away)
    now = timezone.now()
    body = {"since": (now - timedelta(hours=1)).isoformat(), "until": now.isoformat()}

    answer = post_json(staff_client, f"/api/topics/{failing_topic.pk}/reparse", body)

    assert answer.status_code == 503 and "not started" in answer.json()["detail"]
    assert ReparseJob.objects.get(topic=failing_topic).state == ReparseState.FAILED  # the next one is not blocked


@pytest.mark.skipif(not postgresql(), reason="compaction is PostgreSQL's")
def test_re_parsing_compacted_readings_replaces_them_once(connection):
    from mqtt_app.history import compaction
    from mqtt_app.ingest import partitions
    from mqtt_app.models import RawMessage, RollupState
    from tests.history.readings import closed_partition

    day = closed_partition(partitions.readings)  # first: it may drop a partition that today's rows would enter
    closed_partition(partitions.raw_messages)
    now = timezone.now()
    topic = archived_topic(connection, "generic_json")
    assert ingest_batch(make_batch(connection.pk, payloads())).status == "stored"
    then = day + timedelta(hours=6)
    shift = then - now  # the readings and their payloads, as if received five days ago
    for model in (TelemetryReading, RawMessage):
        for row in model.objects.filter(topic=topic):
            model.objects.filter(pk=row.pk).update(received_at=row.received_at + shift)
    TelemetryReading.objects.filter(topic=topic).update(timestamp=then)
    RollupState.objects.update_or_create(pk=1, defaults={"marker": 1})
    assert sum(c.readings for c in compaction.compact(now)) == 2 * COUNT
    job = ReparseJob.objects.create(topic=topic, since=then - timedelta(hours=1), until=then + timedelta(hours=1),
                                    parser_name="generic_json")  # fmt: skip

    done = reparse.run(job.pk)

    assert (done.state, done.readings) == (ReparseState.DONE, 2 * COUNT)
    assert len(readings(topic)) == 2 * COUNT  # rows only: the blocks of those arrivals were turned back
    assert compaction.expand(topic.pk, then - timedelta(days=1), then + timedelta(days=1)) == 0
