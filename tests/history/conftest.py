"""Fixtures for the history tests: a topic and readings written the way ingestion writes them (rows, not ORM
objects with defaults), and an aggregation of raw readings done in Python, independently of the code under test."""

from __future__ import annotations

import pytest
from django.utils import timezone

from mqtt_app.models import MqttConnection, MqttTopic, Site
from tests.api.fixtures import *  # noqa: F403 - the API's users and factories


@pytest.fixture
def topic(db) -> MqttTopic:
    site = Site.objects.create(name="Plant")
    connection = MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)
    now = timezone.now()
    return MqttTopic.objects.create(connection=connection, topic="plant/boiler", first_seen_at=now, last_seen_at=now)
