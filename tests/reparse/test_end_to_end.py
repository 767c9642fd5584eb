"""The archive and a re-parse end to end: a real publisher, listener and worker store a device's payloads that its
topic's parser rejects; the parser is switched and a re-parse is asked for through the API; the worker's job turns
every archived payload into readings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.models import MqttConnection, MqttParsingLog, MqttTopic, RawMessage, TelemetryReading
from tests.api.requests import patch_json, post_json
from tests.helpers import wait_for
from tests.ingest.batches import publish

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
COUNT = 50


def test_a_fixed_parser_gets_back_every_archived_payload_through_the_worker(broker, live_connection, staff_client):
    MqttConnection.objects.filter(pk=live_connection.pk).update(keep_raw_days=7)
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=live_connection, topic="plant/boiler", is_processable=True,
                                     parser_name="plain_number", parser_locked=True, first_seen_at=now,
                                     last_seen_at=now)  # fmt: skip
    publish(broker, [("plant/boiler", json.dumps({"seq": n}).encode()) for n in range(COUNT)])
    wait_for(lambda: RawMessage.objects.filter(topic=topic).count() == COUNT, timeout=30, what="every payload archived")
    assert not TelemetryReading.objects.filter(topic=topic).exists() and MqttParsingLog.objects.filter(topic=topic)

    patch_json(staff_client, f"/api/topics/{topic.pk}", {"parser_name": "generic_json"})
    since, until = timezone.now() - timedelta(hours=1), timezone.now()
    job = post_json(staff_client, f"/api/topics/{topic.pk}/reparse",
                    {"since": since.isoformat(), "until": until.isoformat()}).json()  # fmt: skip

    def finished() -> dict | None:
        state = staff_client.get(f"/api/reparse-jobs/{job['id']}").json()
        return state if state["state"] == "done" else None

    done = wait_for(finished, timeout=30, what="the worker to run the re-parse")
    seqs = sorted(TelemetryReading.objects.filter(topic=topic, metric="seq").values_list("value", flat=True))
    assert (done["done"], done["readings"], done["failures"]) == (COUNT, COUNT, 0)
    assert seqs == list(map(float, range(COUNT)))
    assert not MqttParsingLog.objects.filter(topic=topic).exists()
