"""The errors inbox has a dead letters section; its script loads them from the API (and replays for staff)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_the_errors_page_has_the_dead_letters_section(client):
    client.force_login(get_user_model().objects.create_user("viewer", password="pw-viewer"))

    page = client.get("/errors/").content.decode()

    assert 'id="dead-letters"' in page
    assert 'id="dead-letter-count"' in page
    assert '"is_staff": false' in page


@pytest.mark.slow
@pytest.mark.browser
def test_staff_see_the_dead_letter_and_replay_it_from_the_page(asgi_server, browser_page, transactional_db):
    from mqtt_app.models import DeadLetter
    from tests.ops.dead_letters import make_dead_letter
    from tests.ops.factories import make_connection

    get_user_model().objects.create_user("operator", password="operator-pass", is_staff=True, is_superuser=True)
    row = make_dead_letter(make_connection("boiler"), topic="plant/boiler/replay-me", payload=b"42")
    browser_page.login(asgi_server.url, "operator", "operator-pass")
    page = browser_page.page
    page.goto(f"{asgi_server.url}/errors/")

    page.wait_for_selector(f'#dead-letters tr[data-id="{row.pk}"]')
    assert page.locator("#dead-letter-count").inner_text() == "1"
    page.locator(f'#dead-letters tr[data-id="{row.pk}"] button', has_text="Replay").click()

    page.wait_for_selector(f'#dead-letters tr[data-id="{row.pk}"] >> text=stored by a replay')
    assert page.locator("#dead-letter-count").inner_text() == "0"
    assert DeadLetter.objects.get().replay_result == "stored"
    assert browser_page.errors == []
