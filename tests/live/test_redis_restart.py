"""A restart of the channel layer's Redis under an open page: the page says it is reconnecting, and new values
reach it again without a reload (its socket rejoins its groups and the page reloads what the gap lost)."""

from __future__ import annotations

import time

import pytest

from tests.live.pages import open_topic_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]
GIVE_UP_AFTER_S = 60


@pytest.fixture
def process_env(process_env, private_redis) -> dict[str, str]:
    """The server's and the worker's channel layer on the private Redis (the Celery broker and the listeners'
    registry stay on the test Redis)."""
    return {**process_env, "CHANNEL_REDIS_URL": private_redis.url}


def test_new_values_reach_an_open_topic_page_after_a_redis_restart(
    asgi_server, celery_worker_process, private_redis, browser_page, operator, broker, publish, listener_process
):
    page, _, _ = open_topic_page(browser_page, asgi_server, broker, publish)
    state = page.locator("#live-state")
    publish("plant/boiler/temperature", b"1001")
    page.locator("#live-value", has_text="1001").wait_for(timeout=10_000)

    private_redis.kill()
    page.locator('#live-state[data-state="connecting"]').wait_for(timeout=10_000)
    assert state.inner_text() == "Reconnecting…"
    private_redis.start()

    # A new value every 250 ms until the page shows one of them: a deadline to give up, not a speed goal (the
    # sockets' rejoin is covered without a browser in tests/live/test_layer_loss.py).
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    sent: list[str] = []
    while not any(text in page.locator("#live-value").inner_text() for text in sent):
        assert time.monotonic() < deadline, "\n".join(["no new value reached the page", *browser_page.frames])
        sent.append(str(1002 + len(sent)))
        publish("plant/boiler/temperature", sent[-1].encode())
        page.wait_for_timeout(250)  # the browser's clock: lets the page process what arrived
    page.locator('#live-state[data-state="open"]').wait_for(timeout=GIVE_UP_AFTER_S * 1000)
    assert browser_page.errors == []
