"""The WebSocket event `alert`: a firing alert reaches the sockets of its site's users, and no other."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.utils import timezone

from mqtt_app.alerts.models import AlertRule
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import MqttConnection, MqttConnectionLog, Role, Site, SiteRole
from mqtt_app.services.status import broadcast_statuses
from project.asgi import application
from tests.helpers import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def _socket(user) -> WebsocketCommunicator:  # noqa: ANN001
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"),
               (b"cookie", f"sessionid={session_cookie(user)}".encode())]  # fmt: skip
    ws = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    while (await ws.receive_json_from(timeout=5))["type"] != "ready":
        pass
    return ws


def test_a_firing_alert_is_pushed_to_its_sites_sockets_only():
    users = get_user_model().objects
    ours, theirs = Site.objects.create(name="Ours"), Site.objects.create(name="Theirs")
    viewer, other = users.create_user("viewer", password="pw"), users.create_user("other", password="pw")
    SiteRole.objects.create(user=viewer, site=ours, role=Role.VIEWER)
    SiteRole.objects.create(user=other, site=theirs, role=Role.VIEWER)
    conn = MqttConnection.objects.create(site=ours, name="c", host="127.0.0.1")
    their_conn = MqttConnection.objects.create(site=theirs, name="t", host="127.0.0.1", is_active=False)
    rule = AlertRule.objects.create(site=ours, connection=conn, name="down", kind="connection_down", for_seconds=0)
    at = timezone.now() - timedelta(seconds=5)
    MqttConnectionLog.objects.create(connection=conn, event="error", status="error", created_at=at)
    MqttConnection.objects.filter(pk=conn.pk).update(status="error", status_changed_at=at)

    async def scenario() -> tuple[dict, dict]:
        mine, foreign = await _socket(viewer), await _socket(other)
        from channels.db import database_sync_to_async

        await database_sync_to_async(evaluate_all)()
        # Then a status of the other site's connection: the foreign socket's next message, with no alert before it.
        await database_sync_to_async(broadcast_statuses)([their_conn.pk])
        event = await mine.receive_json_from(timeout=5)
        foreign_next = await foreign.receive_json_from(timeout=5)
        await mine.disconnect()
        await foreign.disconnect()
        return event, foreign_next

    event, foreign_next = async_to_sync(scenario)()
    assert (event["type"], event["state"], event["rule"], event["connection"]) == ("alert", "firing", rule.pk, conn.pk)
    assert (foreign_next["type"], foreign_next["connection"]) == ("connection.status", their_conn.pk)
