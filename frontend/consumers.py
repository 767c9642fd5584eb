"""WebSocket consumer of /ws/events/: thin, ORM only through database_sync_to_async, handlers named after
event types.

Protocol (JSON text frames):
- server → client, unasked, right after connecting: one `connection.status` event (mqtt_app.events) per
  connection, then `{"type": "ready", "connections": <count>}`.
- client → server: `{"action": "subscribe" | "unsubscribe", "connection": <id>, "events": [<type>, ...]}`
  (`events` optional: a subset of SUBSCRIBABLE_EVENTS, default all of them). The server answers
  `{"type": "subscribed" | "unsubscribed", "connection": <id>, "events": [...]}`, or
  `{"type": "error", "message": "...", "request": <what was sent>}` for bad input.
- server → client, pushed: the events of mqtt_app.events, unchanged (`payload` of the channel-layer message).
Anonymous sockets are accepted and closed at once with code 4401, so a browser can tell "log in again"
from a network failure (a close before accept reaches the browser as 1006 with no reason).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from mqtt_app.events import STATUS_GROUP, connection_group
from mqtt_app.observability.latency import record_latency

from .snapshots import connection_exists, status_snapshot

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
SUBSCRIBABLE_EVENTS = ("topic.discovered", "readings", "parsing.error", "stats")
MAX_MESSAGE_BYTES = 4096


class BadRequest(ValueError):
    """A client message the consumer refuses; its text is sent back to the client."""


def max_subscriptions() -> int:
    return int(getattr(settings, "WS_MAX_SUBSCRIPTIONS", 500))


def parse_request(content: Any) -> tuple[str, int, frozenset[str]]:
    """Validate one client message: (action, connection id, event types) or BadRequest with the reason."""
    if not isinstance(content, dict):
        raise BadRequest('a message must be a JSON object like {"action": "subscribe", "connection": 1}')
    action = content.get("action")
    if action not in ("subscribe", "unsubscribe"):
        raise BadRequest('"action" must be "subscribe" or "unsubscribe"')
    connection = content.get("connection")
    if isinstance(connection, bool) or not isinstance(connection, int) or connection < 1:
        raise BadRequest('"connection" must be a positive integer connection id')
    events = content.get("events", list(SUBSCRIBABLE_EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise BadRequest('"events" must be a non-empty list of event types')
    unknown = sorted(set(events) - set(SUBSCRIBABLE_EVENTS))
    if unknown:
        raise BadRequest(f"unknown event types {unknown}; choose from {list(SUBSCRIBABLE_EVENTS)}")
    return action, connection, frozenset(events)


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.subscriptions: dict[int, frozenset[str]] = {}
        self._last_latency_sample = 0.0
        self.joined_status = False
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Join first, then read the snapshot: a change in between arrives twice rather than never.
        await self.channel_layer.group_add(STATUS_GROUP, self.channel_name)
        self.joined_status = True
        events = await database_sync_to_async(status_snapshot)()
        for event in events:
            await self.send_json(event)
        await self.send_json({"type": "ready", "connections": len(events)})

    async def disconnect(self, code: int) -> None:
        if not getattr(self, "joined_status", False):
            return
        await self.channel_layer.group_discard(STATUS_GROUP, self.channel_name)
        for connection_id in list(self.subscriptions):
            await self.channel_layer.group_discard(connection_group(connection_id), self.channel_name)
        self.subscriptions.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None or len(raw) > MAX_MESSAGE_BYTES:
            await self.send_error(f"a message must be a JSON text frame of at most {MAX_MESSAGE_BYTES} bytes")
            return
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self.send_error("a message must be valid JSON")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            action, connection_id, events = parse_request(content)
            if action == "subscribe":
                await self.subscribe(connection_id, events)
            else:
                await self.unsubscribe(connection_id)
        except BadRequest as error:
            await self.send_error(str(error), content)

    async def subscribe(self, connection_id: int, events: frozenset[str]) -> None:
        if connection_id not in self.subscriptions:
            if len(self.subscriptions) >= max_subscriptions():
                raise BadRequest(f"at most {max_subscriptions()} subscriptions per socket; unsubscribe first")
            if not await database_sync_to_async(connection_exists)(connection_id):
                raise BadRequest(f"connection {connection_id} does not exist")
            await self.channel_layer.group_add(connection_group(connection_id), self.channel_name)
        self.subscriptions[connection_id] = events
        await self.send_json({"type": "subscribed", "connection": connection_id, "events": sorted(events)})

    async def unsubscribe(self, connection_id: int) -> None:
        if self.subscriptions.pop(connection_id, None) is not None:
            await self.channel_layer.group_discard(connection_group(connection_id), self.channel_name)
        await self.send_json({"type": "unsubscribed", "connection": connection_id})

    async def send_error(self, message: str, request: Any = None) -> None:
        await self.send_json({"type": "error", "message": message, "request": request})

    async def forward(self, event: dict[str, Any]) -> None:
        """Send a connection event on if this socket asked for that connection and that event type."""
        payload = event.get("payload") or {}
        wanted = self.subscriptions.get(payload.get("connection"))
        if wanted is not None and payload.get("type") in wanted:
            await self.send_json(payload)

    # Handlers named after the event types of mqtt_app.events ("topic.discovered" → topic_discovered).
    async def connection_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])

    async def topic_discovered(self, event: dict[str, Any]) -> None:
        await self.forward(event)

    async def readings(self, event: dict[str, Any]) -> None:
        await self.forward(event)
        await self.sample_latency(event.get("payload") or {})

    async def sample_latency(self, payload: dict[str, Any]) -> None:
        """Feed the seed's "WebSocket latency" metric: receive-to-push time, at most one sample a second
        per socket (recording is a Redis round trip, kept off the event loop)."""
        published_at = payload.get("published_at")
        now = time.time()
        if not published_at or now - self._last_latency_sample < 1.0:
            return
        self._last_latency_sample = now
        await asyncio.get_running_loop().run_in_executor(None, record_latency, "websocket", now - published_at)

    async def parsing_error(self, event: dict[str, Any]) -> None:
        await self.forward(event)

    async def stats(self, event: dict[str, Any]) -> None:
        await self.forward(event)
