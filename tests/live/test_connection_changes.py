"""Connections created, renamed or deleted anywhere reach open pages' sockets; switching is_active in the
admin's change form reaches the listeners within about a second, like the API."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from mqtt_app.models import MqttConnection, Site
from project.asgi import application
from tests.helpers import session_cookie, wait_for
from tests.live.pages import connection_status

pytestmark = pytest.mark.django_db(transaction=True)


def staff_client(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


async def next_of(ws: WebsocketCommunicator, kind: str) -> dict:
    while True:
        message = await ws.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message


def test_a_connection_created_renamed_and_deleted_elsewhere_reaches_an_open_socket(operator):
    site = Site.objects.create(name="Plant North")
    api = staff_client(operator)

    async def scenario() -> list[dict]:
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        headers.append((b"cookie", f"sessionid={session_cookie(operator)}".encode()))
        ws = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        assert (await ws.connect(timeout=5))[0]
        await next_of(ws, "ready")
        created = await sync_to_async(MqttConnection.objects.create)(
            site=site, name="line-1", host="h", is_active=False
        )
        seen = [await next_of(ws, "connection.status")]
        body = json.dumps({"name": "line-1 renamed"})
        await sync_to_async(api.patch)(f"/api/connections/{created.pk}", body, content_type="application/json")
        seen.append(await next_of(ws, "connection.status"))
        await sync_to_async(api.delete)(f"/api/connections/{created.pk}")
        seen.append(await next_of(ws, "connection.deleted"))
        await ws.disconnect()
        return seen

    created, renamed, deleted = async_to_sync(scenario)()

    assert (created["name"], created["site"], created["is_active"]) == ("line-1", site.pk, False)
    assert (renamed["connection"], renamed["name"]) == (created["connection"], "line-1 renamed")
    assert deleted == {"type": "connection.deleted", "connection": created["connection"], "site": site.pk}


@pytest.mark.slow
def test_switching_is_active_in_the_admin_change_form_starts_the_connection_without_waiting_for_the_tick(
    broker, celery_worker_process, listener_process
):
    root = get_user_model().objects.create_superuser("root", "", "pw")
    site = Site.objects.create(name="Plant North")
    connection = MqttConnection.objects.create(
        site=site, name="line-1", host=broker.host, port=broker.port, is_active=False,
        topics=[{"filter": "plant/#", "qos": 1}],
    )  # fmt: skip
    data = {
        "site": site.pk, "name": "line-1", "is_active": "on", "host": broker.host, "port": str(broker.port),
        "protocol": connection.protocol, "keepalive": "60", "client_id": "", "username": "", "password": "",
        "tls_ca_certs": "", "tls_client_cert": "", "tls_client_key": "", "topics": json.dumps(connection.topics),
        "keep_raw_days": 0,
    }  # fmt: skip

    response = staff_client(root).post(f"/admin/mqtt/mqttconnection/{connection.pk}/change/", data)

    assert response.status_code == 302, response.content[:2000]
    # No beat runs here: only the reconcile asked for on commit can start it.
    wait_for(lambda: connection_status(connection.pk) == "connected", timeout=15, what="the connection to start")
