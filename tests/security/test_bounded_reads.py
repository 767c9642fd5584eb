"""Reads of the readings table are bounded: a scope is required, offsets and exports are capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from mqtt_app.api.readings import MAX_OFFSET
from mqtt_app.models import TelemetryReading

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def add(topic, count: int) -> None:
    TelemetryReading.objects.bulk_create(
        TelemetryReading(connection_id=topic.connection_id, topic=topic, device="d", metric="m", value=float(i),
                         timestamp=T0 + timedelta(seconds=i), received_at=T0 + timedelta(seconds=i))
        for i in range(count)
    )  # fmt: skip


def test_readings_without_a_topic_connection_or_site_are_refused(viewer_client):
    for query in ("", "?metric=temp", "?format=csv", "?device=x&limit=1"):
        response = viewer_client.get(f"/api/readings{query}")
        assert response.status_code == 422, query
        assert response.json()["errors"][0]["field"] == "topic"


def test_a_site_filter_lists_the_readings_of_its_connections_only(
    viewer_client, make_site, make_connection, make_topic
):
    site = make_site()
    ours = [make_topic(make_connection(site), f"t/{n}") for n in range(2)]
    theirs = make_topic(make_connection(), "t/0")
    for topic in (*ours, theirs):
        add(topic, 3)
    body = viewer_client.get(f"/api/readings?site={site.pk}&limit=100").json()
    assert len(body["items"]) == 6
    assert {item["topic"] for item in body["items"]} == {topic.pk for topic in ours}
    assert [item["timestamp"] for item in body["items"]] == sorted(
        (i["timestamp"] for i in body["items"]), reverse=True
    )
    other = viewer_client.get(f"/api/readings?site={site.pk}&connection={theirs.connection_id}").json()
    assert other["items"] == []


def test_offsets_beyond_the_cap_are_refused(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t")
    assert viewer_client.get(f"/api/readings?topic={topic.pk}&offset={MAX_OFFSET}").status_code == 200
    response = viewer_client.get(f"/api/readings?topic={topic.pk}&offset={MAX_OFFSET + 1}")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "offset"


def test_json_pages_are_capped_at_the_maximum_limit(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t")
    assert viewer_client.get(f"/api/readings?topic={topic.pk}&limit=100000").json()["limit"] == 1000


@override_settings(MQTT_EXPORT_MAX_ROWS=4)
def test_a_csv_export_streams_at_most_the_configured_rows(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t")
    add(topic, 10)
    response = viewer_client.get(f"/api/readings?topic={topic.pk}&format=csv")
    assert response.streaming
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 1 + 4
    too_many = viewer_client.get(f"/api/readings?topic={topic.pk}&format=csv&limit=5")
    assert too_many.status_code == 422 and "MQTT_EXPORT_MAX_ROWS" in too_many.json()["detail"]
