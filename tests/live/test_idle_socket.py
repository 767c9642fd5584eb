"""An idle WebSocket stays open: the channel layer's blocking read of its messages must not time out."""

from __future__ import annotations

import os
import time

import pytest

from tests.live.sockets import open_socket, receive, send, stay_idle

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = float(os.environ.get("LIVE_IDLE_SECONDS", 25))  # 10 minutes by hand: LIVE_IDLE_SECONDS=600


def test_an_idle_socket_stays_open_and_answers_afterwards(asgi_server, operator, connection):
    ws = open_socket(asgi_server.url, operator)
    started = time.monotonic()

    # A close (the consumer dying on a timed-out read) ends this at once and fails the test.
    assert stay_idle(ws, IDLE_SECONDS) == []

    print(f"idle socket open for {time.monotonic() - started:.0f} s")
    ws.settimeout(10)
    send(ws, {"action": "subscribe", "connection": connection.pk, "events": ["stats"]})
    assert receive(ws) == {"type": "subscribed", "connection": connection.pk, "events": ["stats"]}
    ws.close()
