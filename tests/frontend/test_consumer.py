"""The /ws/events/ consumer through the real ASGI app: auth, origin, snapshot, subscriptions, event shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from frontend.consumers import CLOSE_UNAUTHENTICATED
from mqtt_app.events import (
    STATUS_GROUP,
    ConnectionStatusEvent,
    LatestReading,
    ParsingErrorEvent,
    ReadingsEvent,
    StatsEvent,
    TopicDiscoveredEvent,
    TopicInfo,
    connection_group,
    message_for,
)
from project.asgi import application
from tests.helpers import session_cookie

ORIGIN = (b"origin", b"http://127.0.0.1")


def communicator(cookie: str | None = None, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    headers = [origin, (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return async_to_sync(scenario)()


async def connect_and_drain(ws: WebsocketCommunicator) -> list[dict]:
    """Connect a logged-in socket and return the snapshot it is sent unasked (up to the `ready` marker)."""
    connected, _ = await ws.connect(timeout=5)
    assert connected
    received = []
    while True:
        message = await ws.receive_json_from(timeout=5)
        received.append(message)
        if message["type"] == "ready":
            return received


def test_an_anonymous_socket_is_closed_with_4401():
    async def scenario():
        ws = communicator()
        connected, _ = await ws.connect(timeout=5)
        assert connected
        closing = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return closing

    assert run(scenario) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


def test_a_foreign_origin_is_refused(viewer_user):
    async def scenario():
        ws = communicator(session_cookie(viewer_user), origin=(b"origin", b"http://evil.example"))
        connected, _ = await ws.connect(timeout=5)
        await ws.disconnect()
        return connected

    assert run(scenario) is False


def test_a_logged_in_socket_gets_every_connection_status_without_asking(viewer_user, connections):
    connections[1].status = "error"
    connections[1].status_detail = "not authorised"
    connections[1].connect_count = 4
    connections[1].save()
    cookie = session_cookie(viewer_user)

    async def scenario():
        ws = communicator(cookie)
        messages = await connect_and_drain(ws)
        await ws.disconnect()
        return messages

    messages = run(scenario)
    statuses = [m for m in messages if m["type"] == "connection.status"]
    assert [m["connection"] for m in statuses] == [c.pk for c in connections]
    for message in statuses:
        ConnectionStatusEvent.model_validate(message)  # the documented shape, nothing less
    assert statuses[1]["status"] == "error" and statuses[1]["detail"] == "not authorised"
    assert statuses[1]["restart_count"] == 3
    assert messages[-1] == {"type": "ready", "connections": 3}


def test_status_events_are_pushed_to_every_socket(viewer_user, connections):
    cookie = session_cookie(viewer_user)
    event = ConnectionStatusEvent(
        connection=connections[0].pk,
        site=connections[0].site_id,
        name="line-0",
        is_active=True,
        status="connected",
        status_changed_at=timezone.now(),
    )

    async def scenario():
        ws = communicator(cookie)
        await connect_and_drain(ws)
        await get_channel_layer().group_send(STATUS_GROUP, message_for(event))
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    assert run(scenario) == event.model_dump(mode="json")


def connection_events(connection_id: int) -> list:
    now = timezone.now()
    return [
        TopicDiscoveredEvent(connection=connection_id, topics=[TopicInfo(id=7, topic="a/b", is_processable=False)]),
        ReadingsEvent(
            connection=connection_id,
            counts={7: 3},
            published_at=now.timestamp(),
            readings=[
                LatestReading(topic_id=7, topic="a/b", metric="temperature", value=21.5, unit="°C", timestamp=now)
            ],
        ),
        ParsingErrorEvent(
            connection=connection_id,
            topic="a/b",
            parser="senml",
            error_kind="validation",
            location="e.0.v",
            message="Input should be a valid number",
        ),
        StatsEvent(connection=connection_id, messages_per_second=12.5, messages_received=1000),
    ]


def test_a_subscribed_socket_receives_that_connections_events_in_their_documented_shape(viewer_user, connections):
    cookie = session_cookie(viewer_user)
    target = connections[0].pk
    events = connection_events(target)

    async def scenario():
        ws = communicator(cookie)
        await connect_and_drain(ws)
        await ws.send_json_to({"action": "subscribe", "connection": target})
        ack = await ws.receive_json_from(timeout=5)
        layer = get_channel_layer()
        for other in connection_events(connections[1].pk):  # not subscribed: must not arrive
            await layer.group_send(connection_group(connections[1].pk), message_for(other))
        for event in events:
            await layer.group_send(connection_group(target), message_for(event))
        received = [await ws.receive_json_from(timeout=5) for _ in events]
        silent = await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()
        return ack, received, silent

    ack, received, silent = run(scenario)
    assert ack == {
        "type": "subscribed",
        "connection": target,
        "events": ["parsing.error", "readings", "readings.replaced", "stats", "topic.discovered"],
    }
    assert received == [event.model_dump(mode="json") for event in events]
    assert silent


def test_a_subscription_can_be_limited_to_some_event_types_and_undone(viewer_user, connections):
    cookie = session_cookie(viewer_user)
    target = connections[0].pk
    stats, readings = connection_events(target)[3], connection_events(target)[1]

    async def scenario():
        ws = communicator(cookie)
        await connect_and_drain(ws)
        await ws.send_json_to({"action": "subscribe", "connection": target, "events": ["stats"]})
        await ws.receive_json_from(timeout=5)
        layer = get_channel_layer()
        await layer.group_send(connection_group(target), message_for(readings))
        await layer.group_send(connection_group(target), message_for(stats))
        only_stats = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"action": "unsubscribe", "connection": target})
        ack = await ws.receive_json_from(timeout=5)
        await layer.group_send(connection_group(target), message_for(stats))
        silent = await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()
        return only_stats, ack, silent

    only_stats, ack, silent = run(scenario)
    assert only_stats["type"] == "stats"
    assert ack == {"type": "unsubscribed", "connection": target}
    assert silent


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ("not json at all", "valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"action": "explode", "connection": 1}', '"action"'),
        ('{"action": "subscribe", "connection": "1"}', "positive integer"),
        ('{"action": "subscribe", "connection": true}', "positive integer"),
        ('{"action": "subscribe", "connection": 999999}', "does not exist"),
        ('{"action": "subscribe", "connection": 1, "events": ["everything"]}', "unknown event types"),
        ("x" * 5000, "at most 4096 bytes"),
    ],
)
def test_bad_client_messages_get_an_error_reply_and_the_socket_stays_open(viewer_user, connections, sent, reason):
    cookie = session_cookie(viewer_user)

    async def scenario():
        ws = communicator(cookie)
        await connect_and_drain(ws)
        await ws.send_to(text_data=sent)
        error = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"action": "subscribe", "connection": connections[0].pk})
        still_works = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return error, still_works

    error, still_works = run(scenario)
    assert error["type"] == "error" and reason in error["message"]
    assert still_works["type"] == "subscribed"


def test_subscriptions_per_socket_are_capped(viewer_user, connections, settings):
    settings.WS_MAX_SUBSCRIPTIONS = 2
    cookie = session_cookie(viewer_user)

    async def scenario():
        ws = communicator(cookie)
        await connect_and_drain(ws)
        replies = []
        for connection in connections:
            await ws.send_json_to({"action": "subscribe", "connection": connection.pk})
            replies.append(await ws.receive_json_from(timeout=5))
        await ws.disconnect()
        return replies

    replies = run(scenario)
    assert [r["type"] for r in replies] == ["subscribed", "subscribed", "error"]
    assert "at most 2 subscriptions" in replies[2]["message"]


def test_a_re_parse_reaches_the_connection_and_topic_pages_once(viewer_user, connections):
    from mqtt_app.events import ReadingsReplacedEvent, topic_group
    from mqtt_app.models import MqttTopic

    cookie = session_cookie(viewer_user)
    target = connections[0].pk
    now = timezone.now()
    topic = MqttTopic.objects.create(connection_id=target, topic="a/b", first_seen_at=now, last_seen_at=now).pk
    event = ReadingsReplacedEvent(connection=target, topic_id=topic, since=now, until=now)

    async def scenario():
        both, topic_page = communicator(cookie), communicator(cookie)
        for ws, request in (
            (both, {"action": "subscribe", "connection": target, "topics": [topic],
                    "events": ["readings", "readings.replaced", "topic.readings"]}),
            (topic_page, {"action": "subscribe", "connection": target, "events": ["topic.readings"],
                          "topics": [topic]}),
        ):  # fmt: skip
            await connect_and_drain(ws)
            await ws.send_json_to(request)
            await ws.receive_json_from(timeout=5)
        layer = get_channel_layer()
        for group in (connection_group(target), topic_group(topic)):  # as the re-parse job sends it
            await layer.group_send(group, message_for(event))
        received = [await both.receive_json_from(timeout=5), await topic_page.receive_json_from(timeout=5)]
        silent = await both.receive_nothing(timeout=0.3) and await topic_page.receive_nothing(timeout=0.3)
        for ws in (both, topic_page):
            await ws.disconnect()
        return received, silent

    received, silent = run(scenario)
    assert received == [event.model_dump(mode="json")] * 2 and silent
