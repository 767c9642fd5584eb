"""/metrics: dead letters per connection, all of them and those not stored yet."""

from __future__ import annotations

import pytest

from tests.ops.dead_letters import make_dead_letter
from tests.ops.factories import make_connection
from tests.ops.test_metrics_endpoint import samples

pytestmark = pytest.mark.django_db


def test_metrics_count_dead_letters_per_connection_and_those_not_stored(client, settings):
    settings.METRICS_TOKEN = "tok-abcdef"
    conn, quiet = make_connection("boiler"), make_connection("pump")
    make_dead_letter(conn)
    make_dead_letter(conn, replay_count=1, replay_result="failed again: still refused")
    make_dead_letter(conn, replay_count=1, replay_result="stored")

    found = samples(client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok-abcdef").content)

    labels = frozenset({("connection", str(conn.pk)), ("site", "Site boiler"), ("name", "boiler")})
    none = frozenset({("connection", str(quiet.pk)), ("site", "Site pump"), ("name", "pump")})
    assert found[("mqtt_dead_letters_total", labels)] == 3
    assert found[("mqtt_dead_letters_pending", labels)] == 2
    assert found[("mqtt_dead_letters_total", none)] == 0
    assert found[("mqtt_scrape_error", frozenset({("source", "dead_letters")}))] == 0
