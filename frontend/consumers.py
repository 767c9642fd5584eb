"""WebSocket consumer of /ws/events/: thin, ORM only through database_sync_to_async, handlers named after
event types.

Protocol (JSON text frames):
- server → client, unasked, right after connecting: one `connection.status` event (mqtt_app.events) per
  connection, then `{"type": "ready", "connections": <count>}`.
- client → server: `{"action": "subscribe" | "unsubscribe", "connection": <id>, "events": [<type>, ...],
  "topics": [<topic id>, ...]}` (`events` optional: a subset of SUBSCRIBABLE_EVENTS, default the connection's
  events; `topics`: the connection's topics whose every reading is wanted, required with `topic.readings`).
  The server answers `{"type": "subscribed" | "unsubscribed", "connection": <id>, "events": [...]}`, or
  `{"type": "error", "message": "...", "request": <what was sent>}` for bad input.
- server → client, pushed: the events of mqtt_app.events, unchanged (`payload` of the channel-layer message),
  `connection.deleted` for a connection deleted anywhere (its subscription ends with it), and `alert` (an alert
  fired, was acknowledged or resolved; mqtt_app.alerts.live) for the sites the socket sees. `readings.replaced`
  (a re-parse) reaches a socket that asked for it on the connection or follows the topic, once.
- server → client when the channel layer (Redis) is lost: `{"type": "live.interrupted"}`; once it is back and
  the socket's groups are joined again: `{"type": "resync"}` (events of the gap are lost: reload from the API).
A socket sees the connections of its user's sites only (mqtt_app.access, read when it connects): the snapshot and
the `connection.status` / `connection.deleted` broadcasts are filtered, and a subscription to another site's
connection is refused as if it did not exist.
Anonymous sockets are accepted and closed at once with code 4401, so a browser can tell "log in again"
from a network failure (a close before accept reaches the browser as 1006 with no reason). A socket that
cannot join its groups when it connects (Redis down) is closed with 1013 (try again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from typing import Any, TypeGuard

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from mqtt_app import access
from mqtt_app.events import STATUS_GROUP, connection_group, topic_group, topic_watch_group, user_group
from mqtt_app.observability.latency import record_latency

from .snapshots import connection_visible, fresh_access, site_ids, status_snapshot, topics_of_connection

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_AGAIN_LATER = 1013
CONNECTION_EVENTS = ("topic.discovered", "readings", "parsing.error", "stats", "readings.replaced")
SUBSCRIBABLE_EVENTS = (*CONNECTION_EVENTS, "topic.readings")
MAX_MESSAGE_BYTES = 4096
MAX_TOPICS = 20  # per connection subscription: a page shows one topic, a comparison a few
LAYER_ERRORS = (RedisError, OSError)
LAYER_RETRY = (0.25, 0.5, 1.0, 2.0)  # seconds between probes of a lost channel layer, then the last again

_open_sockets: weakref.WeakSet[EventsConsumer] = weakref.WeakSet()  # this process's, told when the layer is lost


class BadRequest(ValueError):
    """A client message the consumer refuses; its text is sent back to the client."""


def max_subscriptions() -> int:
    return int(getattr(settings, "WS_MAX_SUBSCRIPTIONS", 500))


def parse_request(content: Any) -> tuple[str, int, frozenset[str], frozenset[int]]:
    """Validate one client message: (action, connection id, event types, topic ids) or BadRequest."""
    if not isinstance(content, dict):
        raise BadRequest('a message must be a JSON object like {"action": "subscribe", "connection": 1}')
    action = content.get("action")
    if action not in ("subscribe", "unsubscribe"):
        raise BadRequest('"action" must be "subscribe" or "unsubscribe"')
    connection = content.get("connection")
    if not _positive_int(connection):
        raise BadRequest('"connection" must be a positive integer connection id')
    events = content.get("events", list(CONNECTION_EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise BadRequest('"events" must be a non-empty list of event types')
    unknown = sorted(set(events) - set(SUBSCRIBABLE_EVENTS))
    if unknown:
        raise BadRequest(f"unknown event types {unknown}; choose from {list(SUBSCRIBABLE_EVENTS)}")
    topics = content.get("topics", [])
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS or not all(_positive_int(t) for t in topics):
        raise BadRequest(f'"topics" must be a list of at most {MAX_TOPICS} topic ids')
    if action == "subscribe" and ("topic.readings" in events) != bool(topics):
        raise BadRequest('"topic.readings" needs "topics", and "topics" needs "topic.readings"')
    return action, connection, frozenset(events), frozenset(topics)


def _positive_int(value: Any) -> TypeGuard[int]:  # noqa: ANN401
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def groups_of(connection_id: int, events: frozenset[str], topics: frozenset[int]) -> set[str]:
    """The channel-layer groups a subscription needs."""
    groups = {connection_group(connection_id)} if events & set(CONNECTION_EVENTS) else set()
    if topics:
        groups |= {topic_watch_group(connection_id), *(topic_group(t) for t in topics)}
    return groups


def joining_order(groups: set[str]) -> list[str]:
    """A connection's topic-watch group last: a worker that sees it looks at the topic groups at once, and
    must find this socket in them (else it would remember "nobody" for Watchers.UNWATCHED_TTL)."""
    return sorted(groups, key=lambda group: (group.endswith(".topics"), group))


class EventsConsumer(AsyncJsonWebsocketConsumer):
    _layer_down = False  # read by the layer's receive task, which starts before `connect`
    _lost_elsewhere: asyncio.Event  # set on the first receive (see _receive_from_layer)

    # Channels sets `channel_receive` to the layer's receive before it starts dispatching; the setter keeps
    # that and hands out `_receive_from_layer` instead, so a lost channel layer becomes two events of this
    # consumer (`layer.lost`, `layer.restored`) rather than an exception that closes the socket with 1011.
    @property
    def channel_receive(self):  # noqa: ANN201
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive) -> None:  # noqa: ANN001
        self._layer_receive = receive

    async def connect(self) -> None:
        self.subscriptions: dict[int, frozenset[str]] = {}
        self.topics: dict[int, frozenset[int]] = {}  # connection id -> topics whose every reading is wanted
        self._last_latency_sample = 0.0
        self._last_replaced: dict[str, Any] | None = None
        self.joined_status = False
        self.site_ids: set[int] | None = set()  # the sites whose events this socket may receive; None: all
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.site_ids = await database_sync_to_async(site_ids)(user)
        # Join first, then read the snapshot: a change in between arrives twice rather than never.
        self.user_id = user.pk
        try:
            for group in (user_group(user.pk), STATUS_GROUP):
                await self.channel_layer.group_add(group, self.channel_name)
        except LAYER_ERRORS:
            logger.warning("channel layer unreachable: closing a new socket with %d", CLOSE_TRY_AGAIN_LATER)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self.joined_status = True
        events = await database_sync_to_async(status_snapshot)(user)
        for event in events:
            await self.send_json(event)
        await self.send_json({"type": "ready", "connections": len(events)})

    async def disconnect(self, code: int) -> None:
        _open_sockets.discard(self)
        if not getattr(self, "joined_status", False):
            return
        try:
            for group in self.groups_joined():
                await self.channel_layer.group_discard(group, self.channel_name)
        except LAYER_ERRORS:
            pass  # the groups expire on their own (group_expiry); the layer drops dead channels' messages
        self.subscriptions.clear()
        self.topics.clear()

    def groups_joined(self) -> set[str]:
        groups = {STATUS_GROUP, user_group(self.user_id)} if hasattr(self, "user_id") else {STATUS_GROUP}
        for connection_id, events in getattr(self, "subscriptions", {}).items():
            groups |= groups_of(connection_id, events, self.topics.get(connection_id, frozenset()))
        return groups

    async def _receive_from_layer(self) -> dict[str, Any]:
        """The next channel-layer message; once the layer is lost, one `layer.lost`, then (once a probe answers)
        one `layer.restored`.

        The sockets of a process share one blocking read (channels-redis): only the socket doing it sees the
        error, the others wait on in-process queues, and if Redis is back by their turn they would never learn
        that it lost their groups. So the socket that sees the error tells every socket of the process."""
        if self._layer_down:
            await self._wait_for_layer()
            self._layer_down = False
            self._lost_elsewhere.clear()
            return {"type": "layer.restored"}
        if not hasattr(self, "_lost_elsewhere"):
            self._lost_elsewhere = asyncio.Event()
            _open_sockets.add(self)
        receiving = asyncio.ensure_future(self._layer_receive())
        told = asyncio.ensure_future(self._lost_elsewhere.wait())
        try:
            await asyncio.wait((receiving, told), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this consumer is ending (its socket closed)
            receiving.cancel()
            raise
        finally:
            told.cancel()
        if receiving.done():
            try:
                return receiving.result()
            except LAYER_ERRORS as error:
                logger.warning("channel layer lost under open sockets: %s", error)
                for other in list(_open_sockets):
                    other._lost_elsewhere.set()
        else:
            receiving.cancel()  # the message, if one came meanwhile, stays in the layer's backup queue
            with contextlib.suppress(asyncio.CancelledError, *LAYER_ERRORS):
                await receiving
        self._layer_down = True
        return {"type": "layer.lost"}

    async def _wait_for_layer(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(LAYER_RETRY[min(attempt, len(LAYER_RETRY) - 1)])
            attempt += 1
            try:
                for index in range(getattr(self.channel_layer, "ring_size", 0)):
                    await self.channel_layer.connection(index).ping()
                return
            except LAYER_ERRORS:
                continue

    async def layer_lost(self, event: dict[str, Any]) -> None:
        if getattr(self, "joined_status", False):
            await self.send_json({"type": "live.interrupted"})

    async def layer_restored(self, event: dict[str, Any]) -> None:
        """Join every group again (a restarted Redis has none of them), then tell the page to reload what the
        gap may have lost."""
        if not getattr(self, "joined_status", False):
            return
        try:
            for group in joining_order(self.groups_joined()):
                await self.channel_layer.group_add(group, self.channel_name)
        except LAYER_ERRORS:
            self._layer_down = True  # probed fine, failed again: the next receive waits for it once more
            return
        logger.info("channel layer back: socket rejoined %d groups", len(self.groups_joined()))
        await self.send_json({"type": "resync"})

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
            action, connection_id, events, topics = parse_request(content)
            if action == "subscribe":
                await self.subscribe(connection_id, events, topics)
            else:
                await self.unsubscribe(connection_id)
        except BadRequest as error:
            await self.send_error(str(error), content)
        except LAYER_ERRORS:
            await self.send_error("live events are unavailable for a moment; the page will catch up", content)

    async def subscribe(self, connection_id: int, events: frozenset[str], topics: frozenset[int]) -> None:
        if connection_id not in self.subscriptions:
            if len(self.subscriptions) >= max_subscriptions():
                raise BadRequest(f"at most {max_subscriptions()} subscriptions per socket; unsubscribe first")
            if not await database_sync_to_async(connection_visible)(self.scope.get("user"), connection_id):
                raise BadRequest(f"connection {connection_id} does not exist")
        if topics:
            known = await database_sync_to_async(topics_of_connection)(connection_id, topics)
            if known != topics:
                raise BadRequest(f"topics {sorted(topics - known)} are not topics of connection {connection_id}")
        old_events = self.subscriptions.get(connection_id, frozenset())
        before = groups_of(connection_id, old_events, self.topics.get(connection_id, frozenset()))
        after = groups_of(connection_id, events, topics)
        for group in joining_order(after - before):
            await self.channel_layer.group_add(group, self.channel_name)
        for group in sorted(before - after):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.subscriptions[connection_id] = events
        self.topics[connection_id] = topics
        await self.send_json({"type": "subscribed", "connection": connection_id, "events": sorted(events)})

    async def unsubscribe(self, connection_id: int) -> None:
        events = self.subscriptions.pop(connection_id, None)
        topics = self.topics.pop(connection_id, frozenset())
        if events is not None:
            for group in sorted(groups_of(connection_id, events, topics)):
                await self.channel_layer.group_discard(group, self.channel_name)
        await self.send_json({"type": "unsubscribed", "connection": connection_id})

    async def send_error(self, message: str, request: Any = None) -> None:
        await self.send_json({"type": "error", "message": message, "request": request})

    async def forward(self, event: dict[str, Any]) -> None:
        """Send a connection event on if this socket asked for that connection and that event type."""
        payload = event.get("payload") or {}
        wanted = self.subscriptions.get(payload.get("connection", 0))
        if wanted is not None and payload.get("type") in wanted:
            await self.send_json(payload)

    async def access_changed(self, event: dict[str, Any]) -> None:
        """The user's roles changed: read them again, drop the subscriptions no longer allowed, and have the page
        reload what it shows (a deactivated or deleted account's socket is closed)."""
        user, self.site_ids = await database_sync_to_async(fresh_access)(self.user_id)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.scope["user"] = user
        visible = await database_sync_to_async(access.connection_ids)(user)  # None: every connection
        for connection_id in list(self.subscriptions):
            if visible is not None and connection_id not in visible:
                await self.unsubscribe(connection_id)
        await self.send_json({"type": "resync"})

    def sees(self, payload: dict[str, Any]) -> bool:
        """Whether the event is of one of this socket's sites (every site's event goes to every socket)."""
        allowed: set[int] | None = getattr(self, "site_ids", set())
        return allowed is None or payload.get("site") in allowed

    # Handlers named after the event types of mqtt_app.events ("topic.discovered" → topic_discovered).
    async def connection_status(self, event: dict[str, Any]) -> None:
        if self.sees(event["payload"]):
            await self.send_json(event["payload"])

    async def connection_deleted(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if payload.get("connection") in self.subscriptions:
            await self.unsubscribe(payload["connection"])
        if self.sees(payload):
            await self.send_json(payload)

    async def alert(self, event: dict[str, Any]) -> None:
        """An alert fired, was acknowledged or resolved (mqtt_app.alerts.live): to the sockets of its site."""
        if self.sees(event["payload"]):
            await self.send_json(event["payload"])

    async def topic_discovered(self, event: dict[str, Any]) -> None:
        await self.forward(event)

    async def readings(self, event: dict[str, Any]) -> None:
        await self.forward(event)
        await self.sample_latency(event.get("payload") or {})

    async def topic_readings(self, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        if payload.get("topic_id") in self.topics.get(payload.get("connection", 0), ()):
            await self.send_json(payload)
            await self.sample_latency(payload)

    async def readings_replaced(self, event: dict[str, Any]) -> None:
        """Sent to the connection's group and the topic's: a socket in both is told once."""
        payload = event.get("payload") or {}
        cid = payload.get("connection", 0)
        wanted = "readings.replaced" in self.subscriptions.get(cid, ()) or payload.get("topic_id") in self.topics.get(
            cid, ()
        )
        if wanted and self._last_replaced != payload:
            self._last_replaced = payload
            await self.send_json(payload)

    async def sample_latency(self, payload: dict[str, Any]) -> None:
        """Feed the "WebSocket latency" success metric: receive-to-push time, at most one sample a second
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
