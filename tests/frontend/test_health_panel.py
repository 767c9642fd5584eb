"""The Health panels: the success metrics from /health/metrics.json shown against their targets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mqtt_app.models import ConnectionStatus, Role, SiteRole
from tests.frontend.test_browser import screenshot
from tests.ops.factories import dead_letter, ingest, log_event, make_connection


def logged_in(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_has_an_overall_health_panel_with_a_window_choice(viewer_user):
    html = logged_in(viewer_user).get("/").content.decode()

    assert 'data-health="overall"' in html
    assert all(f'data-window="{window}"' in html for window in ("1h", "24h", "7d"))
    assert 'class="health-below"' in html  # the connections below target are listed on the dashboard only
    assert "frontend/js/health.js" in html


def test_the_connection_page_has_a_health_panel_for_that_connection(viewer_user, connections):
    connection = connections[1]

    html = logged_in(viewer_user).get(f"/connections/{connection.pk}/").content.decode()

    assert f'data-health="{connection.pk}"' in html
    assert 'class="health-below"' not in html
    assert "frontend/js/health.js" in html


@pytest.mark.slow
@pytest.mark.browser
def test_the_dashboard_panel_shows_the_reports_figures_and_no_data_where_there_is_none(
    asgi_server, browser_page, viewer_user
):
    now = timezone.now()
    busy = make_connection("boiler", site_name="Plant North", is_active=True,
                           status=ConnectionStatus.CONNECTED, last_heartbeat_at=now)  # fmt: skip
    log_event(busy, "connected", now - timedelta(hours=2))  # up for the whole window
    ingest(busy, parsed=97, failed=3)
    dead_letter(busy)
    quiet = make_connection("spare", site_name="Plant North", is_active=False)  # no data of any kind
    SiteRole.objects.create(user=viewer_user, site=busy.site, role=Role.VIEWER)
    browser_page.login(asgi_server.url, "viewer", "viewer-pass")
    page = browser_page.page
    panel = page.locator('[data-health="overall"]')

    def tile(name: str):  # noqa: ANN202
        return panel.locator(f'.health-metric[data-metric="{name}"]')

    tile("uptime").wait_for()
    assert tile("uptime").locator(".value").inner_text() == "100 %"
    assert tile("parse_success_rate").locator(".value").inner_text() == "97 %"
    assert tile("parse_success_rate").locator(".tag").inner_text() == "ok"
    assert tile("error_rate").locator(".value").inner_text() == "1 %"  # one dead letter in 100 messages
    assert tile("error_rate").locator(".tag").inner_text() == "below target"
    assert tile("error_rate").locator(".target").inner_text() == "target ≤ 0.1 %"
    assert tile("reconcile_seconds").locator(".tag").inner_text() == "no data"  # no reconcile ran
    assert panel.locator(".health-verdict").inner_text() == "below target"
    below = panel.locator(".health-below a")
    assert below.count() == 1 and below.get_attribute("href") == f"/connections/{busy.pk}/"
    assert panel.locator(f'a[href="/connections/{quiet.pk}/"]').count() == 0

    screenshot(page, "health")

    with page.expect_response(lambda response: "window=24h" in response.url):
        panel.get_by_role("button", name="24 h").click()
    panel.locator(".health-status", has_text="last 24 h").wait_for()
    assert panel.get_by_role("button", name="24 h").get_attribute("aria-pressed") == "true"

    page.goto(f"{asgi_server.url}/connections/{busy.pk}/")
    own = page.locator(f'[data-health="{busy.pk}"]')
    own.locator('.health-metric[data-metric="error_rate"]').wait_for()
    assert own.locator(".health-metric .value").all_inner_texts() == ["100 %", "97 %", "1 %"]

    page.goto(f"{asgi_server.url}/connections/{quiet.pk}/")
    own = page.locator(f'[data-health="{quiet.pk}"]')
    own.locator('.health-metric[data-metric="error_rate"]').wait_for()
    assert own.locator(".health-metric .tag").all_inner_texts() == ["no data"] * 3
    assert browser_page.errors == []
