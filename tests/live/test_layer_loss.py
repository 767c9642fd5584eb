"""Every socket of a server process learns that the channel layer's Redis restarted, not only the one whose
read failed (the sockets of a process share one blocking read), and each rejoins its groups."""

from __future__ import annotations

import signal

import pytest
from django.utils import timezone

from mqtt_app.events import STATUS_GROUP, ConnectionStatusEvent, broadcast
from tests.live.sockets import open_socket, receive

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def process_env(process_env, private_redis) -> dict[str, str]:
    return {**process_env, "CHANNEL_REDIS_URL": private_redis.url}


def next_of(ws, kind: str) -> dict:  # noqa: ANN001
    while (message := receive(ws))["type"] != kind:
        pass
    return message


def test_every_open_socket_is_told_and_rejoins_after_a_redis_restart(asgi_server, private_redis, operator, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [private_redis.url]}}
    }
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{settings.REDIS_KEY_PREFIX}:asgi"
    sockets = [open_socket(asgi_server.url, operator) for _ in range(3)]

    # The server frozen while Redis restarts: when it runs again, Redis is back, so only the socket doing the
    # shared read sees an error; the others would go on reading from the new, empty Redis.
    asgi_server.process.signal(signal.SIGSTOP)
    private_redis.kill()
    private_redis.start()
    asgi_server.process.signal(signal.SIGCONT)
    for ws in sockets:
        assert next_of(ws, "live.interrupted")
        assert next_of(ws, "resync")

    event = ConnectionStatusEvent(connection=7, site=1, name="after", is_active=True, status="connected")
    event.status_changed_at = timezone.now()
    broadcast(STATUS_GROUP, event)
    for ws in sockets:  # each one is in the status group again
        assert next_of(ws, "connection.status")["name"] == "after"
        ws.close()
