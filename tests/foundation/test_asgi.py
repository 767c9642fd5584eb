"""The ASGI application serves HTTP pages and authenticated WebSockets (the real app, session auth)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(username: str = "viewer") -> str:
    user = get_user_model().objects.create_user(username=username, password="pw-123456")
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _ws_connect(headers: list[tuple[bytes, bytes]]):
    """(usable, close code): a socket counts as refused when the handshake fails or the server closes it
    right away (anonymous sockets are accepted then closed with 4401 so the browser can tell why)."""
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    if connected:
        first = await communicator.receive_output(timeout=5)  # a snapshot frame, or the close
        if first["type"] == "websocket.close":
            return False, first.get("code")
        await communicator.disconnect()
    return connected, code


def test_the_asgi_app_serves_the_admin_login_page():
    async def fetch():
        communicator = HttpCommunicator(application, "GET", "/admin/login/", headers=[(b"host", b"127.0.0.1")])
        return await communicator.get_response(timeout=10)

    response = async_to_sync(fetch)()
    assert response["status"] == 200
    assert b"Django" in response["body"] or b"login" in response["body"].lower()


def test_a_logged_in_user_opens_the_events_websocket():
    cookie = session_cookie()
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())]
    connected, _ = async_to_sync(_ws_connect)(headers)
    assert connected is True


def test_an_anonymous_websocket_is_refused():
    connected, code = async_to_sync(_ws_connect)([(b"origin", b"http://127.0.0.1")])
    assert connected is False
    assert code == 4401


def test_a_websocket_from_a_foreign_origin_is_refused_even_when_logged_in():
    cookie = session_cookie("other")
    headers = [(b"origin", b"http://evil.example"), (b"cookie", f"sessionid={cookie}".encode())]
    connected, _ = async_to_sync(_ws_connect)(headers)
    assert connected is False
