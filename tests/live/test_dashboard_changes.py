"""A connection created, renamed or deleted through the API appears, changes and disappears on an open
dashboard without a reload."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

API = """async ([method, url, body]) => {
  const token = decodeURIComponent((document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "");
  const response = await fetch(url, { method, headers: { "Content-Type": "application/json", "X-CSRFToken": token },
    body: body ? JSON.stringify(body) : undefined });
  return [response.status, response.status === 204 ? null : await response.json()];
}"""


def test_connections_changed_through_the_api_change_an_open_dashboard(asgi_server, browser_page, operator):
    from mqtt_app.models import Site

    site = Site.objects.create(name="Plant North")
    browser_page.login(asgi_server.url, "operator", "operator-pass")
    page = browser_page.page
    page.locator("#connection-rows td.empty", has_text="No connections yet").wait_for()
    other = browser_page.page.context.new_page()  # another operator's tab does the changes
    other.goto(f"{asgi_server.url}/")

    status, created = other.evaluate(
        API, ["POST", "/api/connections", {"site": site.pk, "name": "line-9", "host": "h"}]
    )
    assert status == 201, created
    row = page.locator(f'#connection-rows tr[data-id="{created["id"]}"]')
    row.get_by_text("line-9").wait_for()

    status, _ = other.evaluate(API, ["PATCH", f"/api/connections/{created['id']}", {"name": "line-9b"}])
    assert status == 200
    row.get_by_text("line-9b").wait_for()

    status, _ = other.evaluate(API, ["DELETE", f"/api/connections/{created['id']}", None])
    assert status == 204
    row.wait_for(state="detached")
    page.locator("#connection-rows td.empty", has_text="No connections yet").wait_for()
    assert browser_page.errors == []
