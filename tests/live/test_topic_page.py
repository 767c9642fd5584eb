"""The topic page's chart gets every reading of its topic, not a sample; beyond the point rate it says it
thins them."""

from __future__ import annotations

import time

import pytest

from tests.helpers import wait_for
from tests.live.pages import open_topic_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_every_reading_reaches_the_topic_page_and_a_flood_is_said_to_be_thinned(
    asgi_server, browser_page, operator, broker, publish, celery_worker_process, listener_process
):
    from mqtt_app.models import TelemetryReading

    page, _, topic = open_topic_page(browser_page, asgi_server, broker, publish)

    values = [str(2000 + n) for n in range(15)]
    for value in values:  # 20 a second: well under the point rate, more than the dashboard's 4
        publish("plant/boiler/temperature", value.encode())
        time.sleep(0.05)
    page.locator("#live-value", has_text=values[-1]).wait_for(timeout=10_000)
    shown = page.locator("#recent td.num").all_inner_texts()
    assert sorted(shown[: len(values)]) == values, browser_page.frames
    assert page.locator("#live-thinned").is_hidden()

    flood = [str(3000 + n) for n in range(300)]
    for value in flood:  # as fast as one client publishes: far over 50 a second
        publish("plant/boiler/temperature", value.encode())
    page.locator("#live-value", has_text=flood[-1]).wait_for(timeout=20_000)
    page.locator("#live-thinned", has_text="Live points are thinned").wait_for(timeout=5_000)
    stored = 1 + len(values) + len(flood)  # all stored; only the live points were thinned
    wait_for(lambda: TelemetryReading.objects.filter(topic=topic).count() == stored, timeout=10, what="storage")
    assert browser_page.errors == []
