"""The topic page draws a 30-day chart from the rollups (line and min-max band) of a topic with more than a million
readings (on PostgreSQL; 60,000 on SQLite, whose rows are written one ORM object at a time), and adds another
topic's series. How long the drawing takes: bench/history_browser.py."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.utils import timezone

from mqtt_app.history.rollup import roll_up
from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading

pytestmark = [pytest.mark.slow, pytest.mark.browser]
# Over 30 days: one temperature every 2.2 s (every 43 s on SQLite).
READINGS = 1_200_000 if db.vendor == "postgresql" else 60_000
OTHERS = 6_000  # the boiler's humidity, and the pump's flow
FILL = """
INSERT INTO mqtt_telemetryreading (connection_id, topic_id, device, metric, value_type, value, text_value, unit,
                                   timestamp, received_at)
SELECT %s, %s, '', %s, 'number', 20 + 5 * sin(i / 500.0), '', '', now() - make_interval(secs => %s * i), now()
FROM generate_series(0, %s - 1) AS i
"""


def fill(topic: MqttTopic, metric: str, count: int, phase: float) -> None:
    now = timezone.now()
    if db.vendor == "postgresql":  # a million rows as ORM objects would take minutes
        with db.cursor() as cursor:
            cursor.execute(FILL, [topic.connection_id, topic.pk, metric, 30 * 86400 / count, count])
        return
    step = 30 * 86400 / count
    TelemetryReading.objects.bulk_create(
        (TelemetryReading(connection_id=topic.connection_id, topic=topic, metric=metric,
                          value=20 + 5 * math.sin(i / 500 + phase), timestamp=now - timedelta(seconds=step * i),
                          received_at=now) for i in range(count)),
        batch_size=5000,
    )  # fmt: skip


def test_a_30_day_chart_is_drawn_from_rollups_with_a_series_of_another_topic(
    asgi_server, browser_page, transactional_db
):
    get_user_model().objects.create_user("staff", password="staff-pass", is_staff=True, is_superuser=True)
    site = Site.objects.create(name="Plant North")
    conn = MqttConnection.objects.create(site=site, name="line-1", host="127.0.0.1", port=1883, is_active=False)
    now = timezone.now()
    boiler = MqttTopic.objects.create(connection=conn, topic="plant/boiler", first_seen_at=now, last_seen_at=now)
    pump = MqttTopic.objects.create(connection=conn, topic="plant/pump", first_seen_at=now, last_seen_at=now)
    fill(boiler, "temperature", READINGS, 0.0)
    fill(boiler, "humidity", OTHERS, 1.0)
    fill(pump, "flow", OTHERS, 2.0)
    roll_up()

    browser_page.login(asgi_server.url, "staff", "staff-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/topics/{boiler.pk}/")
    page.locator("#metrics input[value=temperature]:checked").wait_for()
    page.get_by_role("button", name="30 d").click()

    chart = page.locator('#chart[data-source="hour"][data-drawn="2"]')
    chart.wait_for(timeout=20_000)
    assert int(chart.get_attribute("data-buckets")) > 2 * 300  # two metrics, about 360 two-hour buckets each
    assert page.locator("#chart canvas").count() == 1
    assert f"{READINGS + OTHERS:,} readings in this range" in page.locator("#chart-note").inner_text()
    assert "band: min to max" in page.locator("#chart-note").inner_text()

    page.select_option("#other-topic", str(pump.pk))
    page.locator("#other-metrics option[value=flow]").wait_for(state="attached")
    page.fill("#other-metric", "flow")
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator('#chart[data-drawn="3"]').wait_for(timeout=20_000)
    assert page.locator("#other-series .tag", has_text="plant/pump · flow").is_visible()
    assert f"{READINGS + 2 * OTHERS:,} readings in this range" in page.locator("#chart-note").inner_text()
    assert browser_page.errors == []
