"""The dead letter admin: a read-only list with filters and a payload excerpt, and a Replay action."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from mqtt_app.models import DeadLetter, MqttTopic
from tests.ops.dead_letters import make_dead_letter
from tests.ops.factories import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    return client


def test_the_list_filters_by_connection_error_kind_and_replayed(admin_client):
    conn, other = make_connection("boiler"), make_connection("pump")
    make_dead_letter(conn, topic="plant/waiting")
    make_dead_letter(conn, topic="plant/replayed", replay_count=1, replay_result="stored")
    make_dead_letter(other, topic="plant/elsewhere", error_kind="retries_exhausted")
    url = reverse("admin:mqtt_deadletter_changelist")

    def topics(query: str) -> set[str]:
        response = admin_client.get(f"{url}?{query}")
        assert response.status_code == 200
        return {t for t in ("plant/waiting", "plant/replayed", "plant/elsewhere") if t in response.content.decode()}

    assert topics("") == {"plant/waiting", "plant/replayed", "plant/elsewhere"}
    assert topics(f"connection__id__exact={conn.pk}") == {"plant/waiting", "plant/replayed"}
    assert topics("error_kind=retries_exhausted") == {"plant/elsewhere"}
    assert topics("replayed=no") == {"plant/waiting", "plant/elsewhere"}
    assert topics("replayed=yes") == {"plant/replayed"}


def test_the_change_page_is_read_only_with_a_bounded_excerpt(admin_client):
    row = make_dead_letter(make_connection(), payload=b"A" * 5000 + b"TAIL-NEVER-SHOWN")

    response = admin_client.get(reverse("admin:mqtt_deadletter_change", args=[row.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "A" * 1024 in page
    assert "TAIL-NEVER-SHOWN" not in page
    assert "5016" in page  # the size
    assert 'name="topic"' not in page  # no editable field
    assert admin_client.get(reverse("admin:mqtt_deadletter_add")).status_code == 403


def test_the_replay_action_stores_the_selected_messages(admin_client):
    conn = make_connection()
    row = make_dead_letter(conn, topic="plant/replay-me", payload=b"7")

    response = admin_client.post(
        reverse("admin:mqtt_deadletter_changelist"),
        {"action": "replay_selected", "_selected_action": [str(row.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 stored" in response.content.decode()
    row.refresh_from_db()
    assert (row.replay_count, row.replay_result) == (1, "stored")
    assert MqttTopic.objects.get(connection=conn, topic="plant/replay-me").message_count == 1
    assert DeadLetter.objects.count() == 1
