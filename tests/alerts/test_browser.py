"""The alerts page in headless Chromium against a live server: the firing badge, acknowledging, and a manager
creating a rule in the editor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from mqtt_app.alerts.models import Alert, AlertRule
from mqtt_app.models import MqttConnection, Role, Site, SiteRole

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_sees_the_badge_acknowledges_an_alert_and_creates_a_rule(asgi_server, browser_page):
    manager = get_user_model().objects.create_user("boss", password="boss-pass")
    site = Site.objects.create(name="Plant North")
    SiteRole.objects.create(user=manager, site=site, role=Role.MANAGER)
    conn = MqttConnection.objects.create(site=site, name="gateway", host="127.0.0.1", is_active=False)
    rule = AlertRule.objects.create(site=site, connection=conn, name="gateway down", kind="connection_down")
    at = timezone.now() - timedelta(minutes=3)
    alert = Alert.objects.create(rule=rule, site=site, connection=conn, subject_key=f"connection:{conn.pk}",
                                 subject="connection gateway is error", since=at, fired_at=at)  # fmt: skip

    browser_page.login(asgi_server.url, "boss", "boss-pass")
    page = browser_page.page
    page.locator("nav [data-alert-badge]", has_text="1 firing").wait_for()
    page.goto(f"{asgi_server.url}/alerts/")
    row = page.locator(f'#alerts tr[data-id="{alert.pk}"]')
    row.get_by_text("connection gateway is error").wait_for()
    row.get_by_role("button", name="Acknowledge").click()
    page.locator(f'#alerts tr[data-id="{alert.pk}"][data-state="acknowledged"]').wait_for()
    assert Alert.objects.get(pk=alert.pk).acknowledged_by_name == "boss"

    form = page.locator("#rule-form")
    form.locator('input[name="name"]').fill("freezer warm")
    form.locator('select[name="kind"]').select_option("threshold")
    form.locator('input[name="metric"]').fill("temperature")
    form.locator('select[name="op"]').select_option("gt")
    form.locator('input[name="value"]').fill("-10")
    form.locator('input[name="for_seconds"]').fill("120")
    form.locator('textarea[name="channels"]').fill("email ops@example.com")
    form.get_by_role("button", name="Save rule").click()
    page.locator("#rules tr", has_text="freezer warm").wait_for()
    created = AlertRule.objects.get(name="freezer warm")
    assert (created.kind, created.metric, created.op, created.value, created.for_seconds) == (
        "threshold", "temperature", "gt", -10, 120,
    )  # fmt: skip
    assert list(created.channels.values_list("type", "target")) == [("email", "ops@example.com")]
    assert browser_page.errors == []
