"""The errors inbox to re-parse flow in headless Chromium: a topic whose payloads its parser rejected is opened from
its error group, a parser is chosen and dry-run on the archived payloads, and the re-parse, run by a real worker,
turns them into readings while the page follows the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.utils import timezone

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttConnection, MqttParsingLog, MqttTopic, TelemetryReading
from tests.frontend.test_browser import SCREENSHOTS
from tests.ingest.batches import make_batch

pytestmark = [pytest.mark.slow, pytest.mark.browser]
COUNT = 12


@pytest.fixture
def failing_topic(site):
    connection = MqttConnection.objects.create(site=site, name="boilers", host="127.0.0.1", is_active=False,
                                               keep_raw_days=7)  # fmt: skip
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=connection, topic="plant/boiler", is_processable=True,
                                     parser_name="plain_number", parser_locked=True, first_seen_at=now,
                                     last_seen_at=now)  # fmt: skip
    payloads = [("plant/boiler", json.dumps({"seq": n}).encode()) for n in range(COUNT)]
    assert ingest_batch(make_batch(connection.pk, payloads)).status == "stored"
    assert MqttParsingLog.objects.filter(topic=topic).exists()
    return topic


def test_a_failing_group_is_fixed_by_choosing_a_parser_and_re_parsing(
    asgi_server, browser_page, staff_user, failing_topic, celery_worker_process
):
    browser_page.login(asgi_server.url, "staff", "staff-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/errors/")
    page.get_by_role("link", name="fix and re-parse").first.click()
    page.wait_for_url(f"**/topics/{failing_topic.pk}/**")
    page.locator("#reparse-parser option[value=generic_json]").wait_for(state="attached")
    page.select_option("#reparse-parser", "generic_json")

    page.click("#reparse-dry-run")
    page.locator("#reparse-dry-result", has_text=f"{COUNT} readings, 0 still failing").wait_for()
    page.click("#reparse-form button[type=submit]")
    page.locator("#reparse-jobs tr", has_text="done").wait_for(timeout=30_000)

    page.locator("#metrics input[value=seq]").wait_for(state="attached")  # the chart read the new readings
    if SCREENSHOTS:  # docs/reparse.md's picture, once the toast is gone
        page.locator(".toast").wait_for(state="detached")
        page.locator("#reparse").screenshot(path=str(Path(SCREENSHOTS) / "reparse.png"))
    row = page.locator("#reparse-jobs tr").first.inner_text()
    assert f"{COUNT} / {COUNT}" in row
    assert TelemetryReading.objects.filter(topic=failing_topic, metric="seq").count() == COUNT
    assert not MqttParsingLog.objects.filter(topic=failing_topic).exists()
    assert browser_page.errors == []
