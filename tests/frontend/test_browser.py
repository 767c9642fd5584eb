"""The web UI in headless Chromium against the live stack: daphne, a Celery worker, a listener, a broker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.contrib.auth import get_user_model

from mqtt_app.models import MqttConnection, MqttTopic, Role, Site, SiteRole
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SCREENSHOTS = os.environ.get("UI_SCREENSHOTS_DIR")  # set to docs/screenshots to refresh the README's pictures


def screenshot(page, name: str) -> None:  # noqa: ANN001
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def publisher(broker):
    """A connected MQTT client: publishing then costs a round trip, not a connect."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ui-test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    yield lambda topic, payload: client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def staff(transactional_db):
    return get_user_model().objects.create_user("operator", password="operator-pass", is_staff=True, is_superuser=True)


def test_an_anonymous_visitor_is_sent_to_the_login_page(asgi_server, browser_page):
    page = browser_page.page
    page.goto(f"{asgi_server.url}/connections/1/")
    page.wait_for_url(f"{asgi_server.url}/accounts/login/?next=/connections/1/")
    assert page.locator("#id_username").is_visible()
    screenshot(page, "login")
    assert browser_page.errors == []


def test_a_non_staff_user_sees_the_dashboard_read_only(asgi_server, browser_page, transactional_db):
    viewer = get_user_model().objects.create_user("viewer", password="viewer-pass")
    site = Site.objects.create(name="Plant North")
    SiteRole.objects.create(user=viewer, site=site, role=Role.VIEWER)
    MqttConnection.objects.create(site=site, name="gateway", host="127.0.0.1", port=1883, is_active=False)
    browser_page.login(asgi_server.url, "viewer", "viewer-pass")
    page = browser_page.page
    page.wait_for_selector("#connection-rows tr[data-id]")
    assert page.locator("#connection-rows button").count() == 0
    assert page.get_by_text("read-only").is_visible()
    assert browser_page.errors == []


def test_an_operator_starts_a_connection_sees_live_readings_and_stops_it(
    asgi_server, browser_page, staff, broker, publisher, celery_worker_process, listener_process
):
    site = Site.objects.create(name="Plant North")
    connection = MqttConnection.objects.create(
        site=site, name="line-1", host=broker.host, port=broker.port, is_active=False,
        topics=[{"filter": "plant/#", "qos": 1}],
    )  # fmt: skip
    browser_page.login(asgi_server.url, "operator", "operator-pass")
    page = browser_page.page
    row = page.locator(f'#connection-rows tr[data-id="{connection.pk}"]')
    row.locator(".badge", has_text="Stopped").wait_for()

    row.get_by_role("button", name="Start line-1").click()
    row.locator(".badge", has_text="Connected").wait_for(timeout=20_000)  # pushed over the WebSocket, no reload
    screenshot(page, "dashboard")
    if SCREENSHOTS:
        page.click("#theme-toggle")
        screenshot(page, "dashboard-dark")
        page.click("#theme-toggle")

    publisher("plant/boiler", json.dumps({"temperature": 20.5}).encode())
    topic = wait_for(
        lambda: MqttTopic.objects.filter(connection=connection, topic="plant/boiler").first(),
        timeout=15,
        what="the topic to be discovered",
    )
    page.goto(f"{asgi_server.url}/connections/{connection.pk}/")
    page.locator(".tree a.name", has_text="boiler").wait_for()
    screenshot(page, "connection")

    page.goto(f"{asgi_server.url}/topics/{topic.pk}/")
    page.locator(f'#live-state[data-subscribed~="{connection.pk}"]').wait_for()
    publisher("plant/boiler", json.dumps({"temperature": 23.25}).encode())
    try:  # live, without a reload (how fast is a benchmark's question: python -m bench.ui_latency)
        page.locator("#live-value", has_text="23.25").wait_for(timeout=15_000)
    except Exception as error:
        raise AssertionError("\n".join(browser_page.frames + browser_page.errors)) from error
    screenshot(page, "topic")

    page.goto(f"{asgi_server.url}/errors/")
    page.locator("#parse-errors tr").first.wait_for()
    screenshot(page, "errors")

    page.goto(f"{asgi_server.url}/")
    row.get_by_role("button", name="Stop line-1").click()
    row.locator(".badge", has_text="Stopped").wait_for(timeout=20_000)
    connection.refresh_from_db()
    assert connection.is_active is False and connection.status == "stopped"
    assert browser_page.errors == []
