"""Start/stop only set `is_active` and enqueue a reconcile after commit; events are listed newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from mqtt_app.models import ConnectionEvent, ConnectionStatus, MqttConnection, MqttConnectionLog
from tests.api.requests import post_json

CONTROL_QUEUE = "control"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("action", "before", "after"), [("start", False, True), ("stop", True, False)])
def test_start_and_stop_only_change_the_flag_and_enqueue_a_reconcile(
    staff_client, make_connection, redis_client, action, before, after
):
    conn = make_connection(is_active=before, status=ConnectionStatus.CONNECTED, listener="L1")
    snapshot = model_to_dict(MqttConnection.objects.get(pk=conn.pk))
    response = post_json(staff_client, f"/api/connections/{conn.pk}/{action}", {})
    assert response.status_code == 202
    assert response.json() == {"id": conn.pk, "is_active": after, "status": "connected", "status_detail": "",
                               "listener": "L1", "changed": True}  # fmt: skip
    now = model_to_dict(MqttConnection.objects.get(pk=conn.pk))
    assert now.pop("is_active") is after
    snapshot.pop("is_active")
    assert now == snapshot
    assert redis_client.llen(CONTROL_QUEUE) == 1  # the reconcile task, sent once the change was committed


@pytest.mark.django_db(transaction=True)
def test_starting_a_started_connection_answers_202_unchanged(staff_client, make_connection, redis_client):
    conn = make_connection(is_active=True)
    response = post_json(staff_client, f"/api/connections/{conn.pk}/start", {})
    assert response.status_code == 202
    assert response.json()["changed"] is False


@pytest.mark.django_db
def test_start_of_an_unknown_connection_is_a_404(staff_client):
    assert post_json(staff_client, "/api/connections/999999/start", {}).status_code == 404


@pytest.mark.django_db
def test_events_are_paginated_newest_first(staff_client, make_connection):
    conn = make_connection()
    start = timezone.now() - timedelta(hours=1)
    for minute in range(5):
        MqttConnectionLog.objects.create(connection=conn, event=ConnectionEvent.CONNECTED, detail=f"e{minute}",
                                         created_at=start + timedelta(minutes=minute))  # fmt: skip
    first = staff_client.get(f"/api/connections/{conn.pk}/events?limit=2").json()
    assert [e["detail"] for e in first["items"]] == ["e4", "e3"]
    assert first["count"] == 5
    rest = staff_client.get(f"/api/connections/{conn.pk}/events?limit=10&offset={first['next_offset']}").json()
    assert [e["detail"] for e in rest["items"]] == ["e2", "e1", "e0"]
    assert rest["next_offset"] is None


@pytest.mark.django_db
def test_a_bad_page_size_is_a_422_naming_limit(staff_client, make_connection):
    response = staff_client.get(f"/api/connections/{make_connection().pk}/events?limit=0")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"
