"""The last value of a burst reaches the screen though nothing follows it (the coalescing window's trailing
edge), on the connection page, which shows the coalesced stream."""

from __future__ import annotations

import os
import statistics
import time

import pytest

from tests.helpers import wait_for
from tests.live.pages import started_connection

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROUNDS = int(os.environ.get("LIVE_TRAILING_ROUNDS", 5))  # 20 by hand, for the figures


def test_the_second_of_two_values_100_ms_apart_reaches_the_connection_page(
    asgi_server, browser_page, operator, broker, publish, celery_worker_process, listener_process
):
    from mqtt_app.models import MqttTopic

    connection = started_connection(broker)
    publish("plant/boiler/temperature", b"1000")
    wait_for(lambda: MqttTopic.objects.filter(connection=connection).exists(), timeout=30, what="the topic")
    browser_page.login(asgi_server.url, "operator", "operator-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/connections/{connection.pk}/")
    page.locator(f'#live-state[data-subscribed~="{connection.pk}"]').wait_for()
    value = page.locator(".leaf .value")

    delays = []
    for n in range(ROUNDS):
        first, last = 1001 + 2 * n, 1002 + 2 * n
        publish("plant/boiler/temperature", str(first).encode())
        time.sleep(0.1)  # the scenario: a lone device's two values 100 ms apart, then nothing
        publish("plant/boiler/temperature", str(last).encode())
        sent = time.monotonic()
        try:
            page.locator(".leaf .value", has_text=str(last)).wait_for(timeout=10_000)
        except Exception as error:
            raise AssertionError("\n".join([value.all_inner_texts().__repr__(), *browser_page.frames])) from error
        delays.append(time.monotonic() - sent)

    print(
        f"last of two values 100 ms apart on screen: {len(delays)} of {ROUNDS}, "
        f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )
    assert len(delays) == ROUNDS and browser_page.errors == []
