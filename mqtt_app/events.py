"""Events sent over the channel layer to WebSocket clients: one documented JSON shape each.

Senders (Celery tasks, the reconcile service) build these Pydantic models and call `broadcast`; the
consumer forwards `payload` to the browser unchanged. Groups:
- STATUS_GROUP: every `connection.status` and `connection.deleted` event (every logged-in client is in it);
- connection_group(id): that connection's `topic.discovered`, `readings`, `parsing.error`, `stats`;
- topic_group(id): that topic's `topic.readings` (every reading, for its page's chart);
- topic_watch_group(connection id): every socket that watches some topic of that connection (it receives
  nothing: its members tell the worker that the connection's topic groups are worth looking at).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime
from typing import Any, Literal

from channels.layers import get_channel_layer
from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

STATUS_GROUP = "mqtt.status"
SEND_TIMEOUT = 2.0  # seconds a sync caller waits for its sends


def connection_group(connection_id: int) -> str:
    return f"mqtt.connection.{connection_id}"


def topic_group(topic_id: int) -> str:
    return f"mqtt.topic.{topic_id}"


def user_group(user_id: int) -> str:
    """Every socket of one user: told when the user's roles (or the account itself) change."""
    return f"mqtt.user.{user_id}"


def topic_watch_group(connection_id: int) -> str:
    return f"mqtt.connection.{connection_id}.topics"


class ConnectionStatusEvent(BaseModel):
    type: Literal["connection.status"] = "connection.status"
    connection: int
    site: int
    name: str
    is_active: bool
    status: str
    detail: str = ""
    listener: str = ""
    status_changed_at: datetime | None = None
    last_connected_at: datetime | None = None
    last_message_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    restart_count: int = 0


class ConnectionDeletedEvent(BaseModel):
    type: Literal["connection.deleted"] = "connection.deleted"
    connection: int
    site: int


class TopicInfo(BaseModel):
    id: int
    topic: str
    is_processable: bool
    parser: str = ""


class TopicDiscoveredEvent(BaseModel):
    type: Literal["topic.discovered"] = "topic.discovered"
    connection: int
    topics: list[TopicInfo]


class TopicReading(BaseModel):
    device: str = ""
    metric: str
    value: float | bool | str | None
    unit: str = ""
    timestamp: datetime


class LatestReading(TopicReading):
    topic_id: int
    topic: str


class ReadingsEvent(BaseModel):
    """Coalesced: the latest value per (topic, metric) of a batch, plus message counts per topic."""

    type: Literal["readings"] = "readings"
    connection: int
    readings: list[LatestReading]
    counts: dict[int, int] = Field(default_factory=dict, description="messages per topic id in this batch")
    published_at: float | None = Field(None, description="earliest receive time of the batch (epoch seconds)")


class TopicReadingsEvent(BaseModel):
    """Not coalesced: every reading of one topic in a batch, in order. Per series (device, metric) a reading
    closer than 1 / MQTT_LIVE_TOPIC_POINTS_PER_SECOND to the previous one sent is left out, except a series'
    last reading of the batch; `thinned` says how many were left out."""

    type: Literal["topic.readings"] = "topic.readings"
    connection: int
    topic_id: int
    topic: str
    readings: list[TopicReading]
    thinned: int = Field(0, description="readings of this batch left out of the event")
    published_at: float | None = Field(None, description="earliest receive time of the batch (epoch seconds)")


class ReadingsReplacedEvent(BaseModel):
    """A re-parse replaced a topic's readings over a range: pages showing them read them again."""

    type: Literal["readings.replaced"] = "readings.replaced"
    connection: int
    topic_id: int
    since: datetime
    until: datetime


class ParsingErrorEvent(BaseModel):
    type: Literal["parsing.error"] = "parsing.error"
    connection: int
    topic: str
    parser: str = ""
    error_kind: str
    location: str = ""
    message: str
    count: int = 1
    log_id: int | None = None


class AccessChangedEvent(BaseModel):
    """A user's roles or account changed: their sockets read what they may see again."""

    type: Literal["access.changed"] = "access.changed"
    user: int


class StatsEvent(BaseModel):
    type: Literal["stats"] = "stats"
    connection: int
    messages_per_second: float
    messages_received: int


Event = (
    ConnectionStatusEvent
    | ConnectionDeletedEvent
    | TopicDiscoveredEvent
    | ReadingsEvent
    | TopicReadingsEvent
    | ParsingErrorEvent
    | StatsEvent
)


def message_for(event: BaseModel) -> dict[str, Any]:
    """The channel-layer message: `type` picks the consumer handler (`connection.status` → connection_status)."""
    payload = event.model_dump(mode="json")
    return {"type": payload["type"], "payload": payload}


class LoopThread:
    """One asyncio loop in a daemon thread, per process (a forked child builds its own on first use).

    `async_to_sync(layer.group_send)` from sync code runs each call on a fresh event loop, and channels-redis
    keeps its connection pools per loop, so every call reconnects to Redis (~2.5 ms), and it cannot run at all
    in a thread that already runs a loop. Sends made here reuse one pool for the life of the process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="live-events", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine, timeout: float = SEND_TIMEOUT):  # noqa: ANN001, ANN201
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result(timeout)

    def call_at(self, at: float, callback, *args) -> None:  # noqa: ANN001
        """Run `callback(*args)` on the loop at `at` (time.monotonic(), which is the loop's clock)."""
        loop = self.loop()
        loop.call_soon_threadsafe(loop.call_at, at, callback, *args)


event_loop = LoopThread()


def broadcast(group: str, event: BaseModel) -> None:
    """Send one event to a group from sync code (see `broadcast_many`)."""
    broadcast_many(group, [event])


def broadcast_many(group: str, events: list[BaseModel]) -> None:
    """Send events to a group from sync code, in order, on the process's event loop. A channel-layer failure is
    logged, never raised: the database already holds the truth and clients resynchronise from the API."""
    layer = get_channel_layer()
    if layer is None or not events:
        return

    async def send_all() -> None:
        for event in events:
            await layer.group_send(group, message_for(event))

    try:
        event_loop.run(send_all())
    except Exception:  # noqa: BLE001 - Redis down must not fail the caller's work
        logger.warning("could not broadcast %d events to %s", len(events), group, exc_info=True)
