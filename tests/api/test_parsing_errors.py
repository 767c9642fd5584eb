"""Parse failures: filtered by connection and topic, most recent first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.models import MqttParsingLog, ParseErrorKind

pytestmark = pytest.mark.django_db


def _log(conn, topic, minutes_ago: int, **fields) -> MqttParsingLog:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("details", [{"loc": "e.0.v", "msg": "Input should be a valid number", "type": "float_parsing"}])
    return MqttParsingLog.objects.create(
        connection=conn, topic=topic, topic_name=topic.topic if topic else "gone", parser_name="senml",
        error_kind=ParseErrorKind.VALIDATION, message="bad", location="e.0.v", payload_excerpt="{}",
        fingerprint=f"fp{minutes_ago}", first_seen_at=at, last_seen_at=at, **fields,
    )  # fmt: skip


def test_parsing_errors_are_filtered_and_newest_first(viewer_client, make_connection, make_topic):
    conn = make_connection()
    topic, other = make_topic(conn, "a"), make_topic(conn, "b")
    _log(conn, topic, 30)
    _log(conn, topic, 5, count=3)
    _log(conn, other, 1)
    _log(make_connection(), None, 0)
    body = viewer_client.get(f"/api/parsing-errors?connection={conn.pk}&topic={topic.pk}").json()
    assert body["count"] == 2
    newest = body["items"][0]
    assert (newest["count"], newest["location"]) == (3, "e.0.v")
    assert (newest["topic"], newest["connection"]) == (topic.pk, conn.pk)
    assert newest["details"][0]["type"] == "float_parsing"
    assert body["items"][1]["last_seen_at"] < newest["last_seen_at"]
    assert viewer_client.get(f"/api/parsing-errors?connection={conn.pk}").json()["count"] == 3
