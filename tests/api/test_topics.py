"""Discovered topics: listed with counts and samples; staff set the parser and is_processable."""

from __future__ import annotations

import pytest

from mqtt_app.models import MqttTopic
from tests.api.requests import patch_json

pytestmark = pytest.mark.django_db


def test_topics_are_listed_per_connection_with_counts_and_samples(viewer_client, make_connection, make_topic):
    conn = make_connection()
    make_topic(conn, "home/kitchen/temp", message_count=7, last_payload=b"21.5", last_payload_size=4)
    make_topic(conn, "home/hall/temp")
    make_topic(make_connection(), "home/kitchen/temp")
    body = viewer_client.get(f"/api/topics?connection={conn.pk}&search=kitchen").json()
    assert body["count"] == 1
    (topic,) = body["items"]
    assert (topic["topic"], topic["message_count"], topic["last_payload"]) == ("home/kitchen/temp", 7, "21.5")
    assert topic["is_processable"] is False


def test_a_binary_payload_sample_is_shown_with_replacement_characters(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "bin", last_payload=b"\xff\x00ok")
    assert viewer_client.get(f"/api/topics/{topic.pk}").json()["last_payload"] == "\ufffd\x00ok"


def test_setting_a_parser_locks_it_and_makes_the_topic_processable(staff_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "home/kitchen/temp")
    response = patch_json(staff_client, f"/api/topics/{topic.pk}", {"parser_name": "plain_number"})
    assert response.status_code == 200, response.content
    topic.refresh_from_db()
    assert (topic.parser_name, topic.parser_locked, topic.is_processable) == ("plain_number", True, True)


def test_clearing_the_parser_hands_the_topic_back_to_detection(staff_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t", parser_name="plain_number", parser_locked=True)
    patch_json(staff_client, f"/api/topics/{topic.pk}", {"parser_name": ""})
    topic.refresh_from_db()
    assert (topic.parser_name, topic.parser_locked) == ("", False)


def test_is_processable_can_be_turned_off_and_stays_off(staff_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t", is_processable=True)
    body = patch_json(staff_client, f"/api/topics/{topic.pk}", {"is_processable": False}).json()
    assert (body["is_processable"], body["parser_locked"]) == (False, True)


def test_an_unknown_parser_is_a_422_on_parser_name(staff_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t")
    response = patch_json(staff_client, f"/api/topics/{topic.pk}", {"parser_name": "nope"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "parser_name"
    assert "unknown parser 'nope'" in error["message"]
    assert MqttTopic.objects.get(pk=topic.pk).parser_name == ""


def test_a_viewer_cannot_change_a_topic(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "t")
    assert patch_json(viewer_client, f"/api/topics/{topic.pk}", {"is_processable": True}).status_code == 403
