"""An open socket follows its user's roles: a role taken away stops that site's events at once and ends the
socket's subscriptions there; a role given lets the next ones through; a deactivated account's socket is closed."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.utils import timezone

from mqtt_app.events import STATUS_GROUP, ConnectionStatusEvent, broadcast
from mqtt_app.models import MqttConnection, Role, Site, SiteRole
from mqtt_app.services.roles import set_role
from project.asgi import application
from tests.helpers import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def next_of(ws: WebsocketCommunicator, kind: str) -> dict:
    while True:
        message = await ws.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message


async def open_socket(user) -> WebsocketCommunicator:  # noqa: ANN001
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"),
               (b"cookie", f"sessionid={await sync_to_async(session_cookie)(user)}".encode())]  # fmt: skip
    ws = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    assert (await ws.connect(timeout=5))[0]
    await next_of(ws, "ready")
    return ws


def status(connection: MqttConnection, name: str) -> ConnectionStatusEvent:
    return ConnectionStatusEvent(connection=connection.pk, site=connection.site_id, name=name, status="stopped",
                                 is_active=False, changed_at=timezone.now())  # fmt: skip


@pytest.fixture
def north():
    site = Site.objects.create(name="north")
    conn = MqttConnection.objects.create(site=site, name="gateway", host="127.0.0.1", is_active=False)
    user = get_user_model().objects.create_user("vic", password="pw")
    SiteRole.objects.create(user=user, site=site, role=Role.VIEWER)
    return site, conn, user


def test_a_role_taken_away_stops_the_sites_events_and_its_subscriptions(north):
    site, conn, user = north

    async def scenario() -> tuple[dict, dict, dict]:
        ws = await open_socket(user)
        await ws.send_json_to({"action": "subscribe", "connection": conn.pk})
        await next_of(ws, "subscribed")
        await sync_to_async(set_role)(None, user, site, None)
        dropped = await next_of(ws, "unsubscribed")
        told = await next_of(ws, "resync")
        await sync_to_async(broadcast)(STATUS_GROUP, status(conn, "hidden now"))
        await sync_to_async(set_role)(None, user, site, Role.VIEWER)
        await next_of(ws, "resync")
        await sync_to_async(broadcast)(STATUS_GROUP, status(conn, "visible again"))
        seen = await next_of(ws, "connection.status")  # the first status event since the role went away
        await ws.disconnect()
        return dropped, told, seen

    dropped, told, seen = async_to_sync(scenario)()
    assert dropped["connection"] == conn.pk and told == {"type": "resync"}
    assert seen["name"] == "visible again"


def test_a_deactivated_accounts_socket_is_closed(north):
    _, _, user = north

    async def scenario() -> dict:
        ws = await open_socket(user)
        user.is_active = False
        await sync_to_async(user.save)()
        closed = await ws.receive_output(timeout=10)
        while closed["type"] != "websocket.close":
            closed = await ws.receive_output(timeout=10)
        return closed

    assert async_to_sync(scenario)()["code"] == 4401
