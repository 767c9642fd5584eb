"""The connection page's "Changes" section, in a browser: it lists who changed the connection, and how."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mqtt_app.models import AuditEntry, MqttConnection, Role, Site, SiteRole


@pytest.mark.slow
@pytest.mark.browser
def test_a_viewer_sees_who_changed_the_connection(asgi_server, browser_page, transactional_db):
    viewer = get_user_model().objects.create_user("viewer", password="viewer-pass")
    site = Site.objects.create(name="Plant North")
    conn = MqttConnection.objects.create(site=site, name="gateway", host="127.0.0.1", is_active=False)
    SiteRole.objects.create(user=viewer, site=site, role=Role.VIEWER)
    AuditEntry.objects.create(username="ann", action="connection.change", site_id=site.pk, connection_id=conn.pk,
                              changes={"port": {"old": 1883, "new": 1884}})  # fmt: skip

    browser_page.login(asgi_server.url, "viewer", "viewer-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/connections/{conn.pk}/")
    page.wait_for_selector("#changes >> text=connection.change")

    row = page.locator("#changes tr").first.inner_text()
    assert "ann" in row and "port" in row and "1883 → 1884" in row
    assert page.locator("#conn-toggle").count() == 0  # a viewer gets no start/stop
    assert browser_page.errors == []
