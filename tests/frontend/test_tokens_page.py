"""The API tokens page in headless Chromium: a person creates a token (shown once) and revokes it; a site's
manager revokes the token of a viewer on that site."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mqtt_app.models import ApiToken, AuditEntry, Role, Site, SiteRole

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def north(transactional_db):
    """Site north: mia manages it, vic views it (with a token named 'grafana')."""
    site = Site.objects.create(name="north")
    make = get_user_model().objects.create_user
    mia, vic = make("mia", password="mia-pass"), make("vic", password="vic-pass")
    SiteRole.objects.create(user=mia, site=site, role=Role.MANAGER)
    SiteRole.objects.create(user=vic, site=site, role=Role.VIEWER)
    ApiToken.issue(vic, "grafana")
    return site


def test_a_person_creates_a_token_sees_it_once_and_revokes_it(asgi_server, browser_page, north):
    browser_page.login(asgi_server.url, "vic", "vic-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/tokens/")
    page.locator("#own-tokens tr[data-token]").first.wait_for()
    assert page.locator(".site-tokens").count() == 0  # a viewer manages no site
    page.fill("#token-name", "ci")
    page.click("#token-form button[type=submit]")
    page.locator("#token-value").wait_for()
    raw = page.locator("#token-value").inner_text()
    assert ApiToken.user_for(raw).username == "vic"
    page.locator("#own-tokens tr[data-token]", has_text="ci").wait_for()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke ci").click()
    page.locator("#own-tokens tr[data-token]", has_text="ci").wait_for(state="detached")
    assert ApiToken.user_for(raw) is None
    assert browser_page.errors == []


def test_a_manager_revokes_a_viewers_token_on_the_site(asgi_server, browser_page, north):
    browser_page.login(asgi_server.url, "mia", "mia-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/tokens/")
    row = page.locator(f'.site-tokens[data-site="{north.pk}"] tr[data-token]', has_text="grafana")
    row.wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke vic's grafana").click()
    row.wait_for(state="detached")
    assert not ApiToken.objects.filter(user__username="vic").exists()
    assert AuditEntry.objects.filter(action="token.revoke", username="mia", site_id=north.pk).exists()
    assert browser_page.errors == []
