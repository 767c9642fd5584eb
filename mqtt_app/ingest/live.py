"""After a batch commits: at most one event per kind to the connection's group, through one long-lived
channel layer connection per process: all of a batch's events go out in one hop onto the process's event loop
thread (mqtt_app.events.LoopThread).

Two streams leave a batch:
- per connection, coalesced (dashboard, connection page): the latest value per topic and metric, at most
  MQTT_LIVE_READINGS_PER_SECOND events a second; what a window holds back is sent when the window ends, by a
  timer on that loop, so the last value of a burst always arrives (within one window) even if nothing follows;
- per watched topic (the topic page): every reading, thinned only beyond MQTT_LIVE_TOPIC_POINTS_PER_SECOND per
  series, and then saying how many points it left out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from mqtt_app.events import (
    LoopThread,
    ParsingErrorEvent,
    StatsEvent,
    TopicDiscoveredEvent,
    TopicInfo,
    connection_group,
    event_loop,
    message_for,
    topic_group,
    topic_watch_group,
)

from .errors import GroupChange
from .topics import TopicBatch

logger = logging.getLogger(__name__)

RATE_WINDOW = 10.0  # seconds of history behind StatsEvent.messages_per_second
STATS_INTERVAL = 1.0  # seconds between StatsEvents of one connection


@dataclass
class LiveUpdate:
    """What one committed batch tells the browser."""

    connection_id: int
    latest: dict[tuple[int, str], tuple[str, tuple]] = field(default_factory=dict)  # (topic, metric): (name, row)
    counts: dict[int, int] = field(default_factory=dict)
    published_at: float | None = None
    new_topics: list[TopicBatch] = field(default_factory=list)
    error_changes: list[GroupChange] = field(default_factory=list)
    messages_received: int = 0
    rows: list[tuple] = field(default_factory=list)  # the batch's reading rows (persist.COLUMNS order)
    topics: list[TopicBatch] = field(default_factory=list)  # the batch's topics, to name the rows' topic ids

    def latest_values(self) -> dict[tuple[int, str], tuple[str, tuple]]:
        """`latest`, plus the last of `rows` per topic and metric: worked out here, when an event is built
        for a watched connection, not per reading while parsing (it was the hottest line of that loop)."""
        if self.rows:
            names = {entry.row.pk: entry.row.topic for entry in self.topics}
            latest = self.latest
            for row in self.rows:  # row[1] is topic_id, row[3] the metric
                latest[row[1], row[3]] = (names[row[1]], row)
            self.rows = []
        return self.latest


class Coalescer:
    """Per connection, batches are merged and a ReadingsEvent goes out at most MQTT_LIVE_READINGS_PER_SECOND
    times a second (so each topic's value too), a StatsEvent at most once a second. What a window holds back
    (latest values, message counts, the newest totals) is sent when that window ends: by the next batch if
    one comes in time, else by a timer on the live-events loop (`flush`). At 20 batches a second this turns
    40 group_sends into 5, and a device's last value is never left waiting for traffic that may not come.

    Worker threads call `readings`/`stats`, the loop calls `flush`: one lock guards the state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: dict[int, dict[tuple[int, str], tuple[str, tuple]]] = {}
        self.counts: dict[int, dict[int, int]] = {}
        self.published_at: dict[int, float] = {}
        self.held_stats: dict[int, tuple[int, float]] = {}  # connection -> (messages_received, rate)
        self.last_readings: dict[int, float] = {}
        self.last_stats: dict[int, float] = {}
        self.scheduled: set[tuple[str, int]] = set()  # (kind, connection) with a flush timer set

    @staticmethod
    def readings_interval() -> float:
        return 1.0 / settings.MQTT_LIVE_READINGS_PER_SECOND

    def readings(self, update: LiveUpdate) -> dict | None:
        """The channel-layer message of a ReadingsEvent when one is due, else None (held back, and a flush at
        the end of the window is scheduled)."""
        cid = update.connection_id
        latest_values = update.latest_values()
        with self.lock:
            self.latest.setdefault(cid, {}).update(latest_values)
            counts = self.counts.setdefault(cid, {})
            for topic_id, count in update.counts.items():
                counts[topic_id] = counts.get(topic_id, 0) + count
            if update.published_at is not None:
                first = self.published_at.get(cid, update.published_at)
                self.published_at[cid] = min(first, update.published_at)
            if not self._due(self.last_readings, cid, self.readings_interval()):
                self._schedule("readings", cid, self.last_readings[cid] + self.readings_interval())
                return None
            return self._pop_readings(cid)

    def stats(self, connection_id: int, messages_received: int, rate: float) -> dict | None:
        """The channel-layer message of a StatsEvent when one is due, else None (the newest figures are held
        and sent when the second ends)."""
        with self.lock:
            if not self._due(self.last_stats, connection_id, STATS_INTERVAL):
                self.held_stats[connection_id] = (messages_received, rate)
                self._schedule("stats", connection_id, self.last_stats[connection_id] + STATS_INTERVAL)
                return None
            self.held_stats.pop(connection_id, None)
            return stats_message(connection_id, messages_received, rate)

    def flush(self, kind: str, connection_id: int) -> dict | None:
        """What the window of `kind` ending now held back for this connection (None if a batch sent it)."""
        with self.lock:
            self.scheduled.discard((kind, connection_id))
            if kind == "stats":
                held = self.held_stats.pop(connection_id, None)
                if held is None:
                    return None
                self.last_stats[connection_id] = time.monotonic()
                return stats_message(connection_id, *held)
            if connection_id not in self.latest and connection_id not in self.counts:
                return None
            self.last_readings[connection_id] = time.monotonic()
            return self._pop_readings(connection_id)

    def _pop_readings(self, cid: int) -> dict:
        latest, counts = self.latest.pop(cid, {}), self.counts.pop(cid, {})
        return readings_message(cid, latest, counts, self.published_at.pop(cid, None))

    def _schedule(self, kind: str, connection_id: int, at: float) -> None:
        """One timer per held-back window (not one per batch); called with the lock held."""
        if (kind, connection_id) in self.scheduled:
            return
        self.scheduled.add((kind, connection_id))
        _loop.call_at(at, _send_flush, self, kind, connection_id)

    @staticmethod
    def _due(last: dict[int, float], connection_id: int, interval: float) -> bool:
        now = time.monotonic()
        if now - last.get(connection_id, float("-inf")) < interval:
            return False
        last[connection_id] = now
        return True


def stats_message(connection_id: int, messages_received: int, rate: float) -> dict:
    event = StatsEvent(connection=connection_id, messages_received=messages_received, messages_per_second=rate)
    return message_for(event)


def _send_flush(coalescer: Coalescer, kind: str, connection_id: int) -> None:
    """On the live-events loop, when a held-back window ends: send what it held, if a batch has not."""
    message = coalescer.flush(kind, connection_id)
    layer = get_channel_layer()
    if message is None or layer is None:
        return
    task = asyncio.get_running_loop().create_task(layer.group_send(connection_group(connection_id), message))
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("could not send held-back live events", exc_info=task.exception())


class TopicStream:
    """Every reading of a watched topic, for its page's chart: per series (topic, device, metric) a reading is
    left out only when it comes less than 1 / MQTT_LIVE_TOPIC_POINTS_PER_SECOND after the last one sent (by
    reading time), and a series' last reading of a batch is always sent. What was left out is counted in the
    event (`thinned`), so the page can say so."""

    MAX_SERIES = 100_000  # emptied when full: a forgotten series only sends one reading more

    def __init__(self) -> None:
        self.last_sent: dict[tuple[int, str, str], float] = {}

    def messages(self, update: LiveUpdate, watched: set[int]) -> list[tuple[str, dict]]:
        """(group, channel-layer message) of a `topic.readings` event per watched topic of the batch."""
        spacing = 1.0 / settings.MQTT_LIVE_TOPIC_POINTS_PER_SECOND - 1e-6  # epoch floats are not exact
        by_topic: dict[int, list[tuple]] = {}
        for row in update.rows:  # row[1] is topic_id
            if row[1] in watched:
                by_topic.setdefault(row[1], []).append(row)
        if len(self.last_sent) > self.MAX_SERIES:
            self.last_sent.clear()
        names = {entry.row.pk: entry.row.topic for entry in update.topics}
        out = []
        for topic_id, rows in by_topic.items():
            kept, thinned = self._thin(rows, spacing)
            payload = {
                "type": "topic.readings",
                "connection": update.connection_id,
                "topic_id": topic_id,
                "topic": names.get(topic_id, ""),
                "readings": [reading_dict(row) for row in kept],
                "thinned": thinned,
                "published_at": update.published_at,
            }
            out.append((topic_group(topic_id), {"type": "topic.readings", "payload": to_jsonable_python(payload)}))
        return out

    def _thin(self, rows: list[tuple], spacing: float) -> tuple[list[tuple], int]:
        last_of_series = {(row[2], row[3]): index for index, row in enumerate(rows)}
        kept = []
        for index, row in enumerate(rows):
            key = (row[1], row[2], row[3])
            at = row[8].timestamp()
            previous = self.last_sent.get(key)
            if previous is None or abs(at - previous) >= spacing or last_of_series[row[2], row[3]] == index:
                kept.append(row)
                self.last_sent[key] = at
        return kept, len(rows) - len(kept)


class RateMeter:
    """Messages per second of a connection from the database's own counter, so it is right across workers."""

    def __init__(self) -> None:
        self.samples: dict[int, deque[tuple[float, int]]] = {}

    def observe(self, connection_id: int, total: int) -> float:
        now = time.monotonic()
        samples = self.samples.setdefault(connection_id, deque())
        samples.append((now, total))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return round((n1 - n0) / (t1 - t0), 1) if t1 - t0 >= 0.5 else 0.0


def readings_message(
    connection_id: int,
    latest: dict[tuple[int, str], tuple[str, tuple]],
    counts: dict[int, int],
    published_at: float | None,
) -> dict:
    """`message_for(ReadingsEvent(...))`, built without a Pydantic model per reading.

    At ten busy connections an event per connection carries hundreds of readings several times a second: one
    LatestReading model each cost more worker CPU than storing them. Plain dicts, made JSON-ready in one call
    of pydantic-core's serializer (the one model_dump uses); a test keeps this equal to the model's output.
    """
    readings = [
        {"topic_id": topic_id, "topic": topic, **reading_dict(row)} for (topic_id, _), (topic, row) in latest.items()
    ]
    payload = {
        "type": "readings",
        "connection": connection_id,
        "readings": readings,
        "counts": counts,
        "published_at": published_at,
    }
    return {"type": "readings", "payload": to_jsonable_python(payload)}


def reading_dict(row: tuple) -> dict:
    """A reading row (persist.COLUMNS order) as the events carry it."""
    _, _, device, metric, value_type, number, text, unit, timestamp, _ = row
    value = bool(number) if value_type == "boolean" else (text if value_type == "text" else number)
    return {"device": device, "metric": metric, "value": value, "unit": unit, "timestamp": timestamp}


class Watchers:
    """Which connection groups have a WebSocket in them, from the channel layer's own group sets (Redis),
    re-read at most every UNWATCHED_TTL / WATCHED_TTL seconds per group, all due groups in one pipeline.

    Most connections of a large installation are watched by nobody most of the time; building their events
    cost several µs per message (measured in mqtt_bench, which has no browser). A browser that subscribes
    gets its first event within UNWATCHED_TTL, and loads the current state from the API anyway."""

    UNWATCHED_TTL = 0.5
    WATCHED_TTL = 2.0

    def __init__(self) -> None:
        self.known: dict[str, tuple[float, bool]] = {}  # group -> (monotonic time to re-read, watched)

    def watched(self, layer, groups: set[str]) -> set[str]:  # noqa: ANN001 - a channel layer
        if not isinstance(layer, RedisChannelLayer):
            return groups  # other layers (in-memory, tests) cannot tell: send
        now = time.monotonic()
        due = [g for g in groups if self.known.get(g, (0.0, False))[0] <= now]
        if due:
            try:
                counts = _loop.run(_members(layer, due))
            except Exception:  # noqa: BLE001 - unknown is treated as watched: events may be wasted, not lost
                logger.debug("could not read the channel layer's groups", exc_info=True)
                counts = [1] * len(due)
            for group, count in zip(due, counts, strict=True):
                ttl = self.WATCHED_TTL if count else self.UNWATCHED_TTL
                self.known[group] = (now + ttl, bool(count))
        return {g for g in groups if self.known[g][1]}


async def _members(layer: RedisChannelLayer, groups: list[str]) -> list[int]:
    """Live members of each group (the layer drops members older than group_expiry on its next send)."""
    cutoff = int(time.time()) - layer.group_expiry
    by_index: dict[int, list[str]] = {}
    for group in groups:
        by_index.setdefault(layer.consistent_hash(group), []).append(group)
    counts: dict[str, int] = {}
    for index, members in by_index.items():
        async with layer.connection(index).pipeline(transaction=False) as pipe:
            for group in members:
                pipe.zcount(layer._group_key(group), cutoff, "+inf")  # noqa: SLF001 - channels-redis 4.x, pinned
            for group, count in zip(members, await pipe.execute(), strict=True):
                counts[group] = int(count)
    return [counts[group] for group in groups]


_loop: LoopThread = event_loop  # shared with mqtt_app.events.broadcast
_coalescer = Coalescer()
_topics = TopicStream()
_rates = RateMeter()
_watchers = Watchers()


def build_messages(update: LiveUpdate) -> list[dict]:
    """The channel-layer messages of one committed batch of one connection, in order."""
    cid = update.connection_id
    events: list[BaseModel | dict] = []
    if update.new_topics:
        topics = [
            TopicInfo(id=t.row.pk, topic=t.row.topic, is_processable=t.row.is_processable, parser=t.row.parser_name)
            for t in update.new_topics
        ]
        events.append(TopicDiscoveredEvent(connection=cid, topics=topics))
    readings = _coalescer.readings(update)
    if readings is not None:
        events.append(readings)
    if update.error_changes:
        events.append(error_event(cid, update.error_changes))
    stats = _coalescer.stats(cid, update.messages_received, _rates.observe(cid, update.messages_received))
    if stats is not None:
        events.append(stats)
    return [event if isinstance(event, dict) else message_for(event) for event in events]


def error_event(connection_id: int, changes: list[GroupChange]) -> ParsingErrorEvent:
    """One event per batch: the newest group first, else the one that grew most (the API lists them all)."""
    change = max(changes, key=lambda c: (c.created, c.added))
    row = change.row
    return ParsingErrorEvent(
        connection=connection_id,
        topic=row.topic_name,
        parser=row.parser_name,
        error_kind=row.error_kind,
        location=row.location,
        message=row.message[:500],
        count=change.total,
        log_id=row.pk,
    )


def publish(update: LiveUpdate) -> int:
    return publish_all([update])


def publish_all(updates: list[LiveUpdate]) -> int:
    """Send the events of every connection of a batch, to each connection's group, and every reading of the
    watched topics to their topics' groups, in one hop onto the loop; returns how many were sent. Groups are
    sent to concurrently (a batch spanning ten connections waits about as long as one), each group's events in
    order. A channel-layer failure is logged, not raised."""
    layer = get_channel_layer()
    if layer is None:
        return 0
    per_group = _messages_of(layer, updates)
    count = sum(len(messages) for _, messages in per_group)
    if not count:
        return 0

    async def send_group(group: str, messages: list[dict]) -> None:
        for message in messages:
            await layer.group_send(group, message)

    async def send_all() -> None:
        await asyncio.gather(*(send_group(group, messages) for group, messages in per_group))

    try:
        _loop.run(send_all())
    except Exception:  # noqa: BLE001 - the database holds the truth; clients resynchronise from the API
        logger.warning("could not send %d live events", count, exc_info=True)
        return 0
    return count


def _messages_of(layer, updates: list[LiveUpdate]) -> list[tuple[str, list[dict]]]:  # noqa: ANN001
    """(group, messages) for the groups someone watches. A connection's topic groups are only looked at when a
    topic page of that connection is open (its watch group has a member): one group per connection otherwise."""
    groups = {u.connection_id: connection_group(u.connection_id) for u in updates}
    marks = {u.connection_id: topic_watch_group(u.connection_id) for u in updates}
    watched = _watchers.watched(layer, set(groups.values()) | set(marks.values()))
    topic_groups = {
        entry.row.pk: topic_group(entry.row.pk)
        for u in updates
        if marks[u.connection_id] in watched
        for entry in u.topics
    }
    seen = _watchers.watched(layer, set(topic_groups.values())) if topic_groups else set()
    watched_topics = {pk for pk, group in topic_groups.items() if group in seen}
    per_group: list[tuple[str, list[dict]]] = []
    for update in updates:
        if watched_topics:  # before build_messages, which folds the rows into the latest values
            per_group += [(group, [message]) for group, message in _topics.messages(update, watched_topics)]
        if groups[update.connection_id] in watched:
            messages = build_messages(update)
            if messages:
                per_group.append((groups[update.connection_id], messages))
    return per_group
