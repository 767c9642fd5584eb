"""Asking a Sparkplug B edge node for a rebirth: the Node Control/Rebirth NCMD, the only message the monitor
ever publishes, and only on connections with `sparkplug_rebirth` switched on (off by default).

A batch that found an edge node's state incomplete (a seq gap, DATA before any BIRTH, an alias no BIRTH named)
asks once it has committed. Each edge node is asked at most once per MQTT_SPARKPLUG_REBIRTH_INTERVAL; the
command goes through Redis to the listener holding the connection (`coordination.publish_key`), which publishes
it at QoS 0 on `spBv1.0/<group>/NCMD/<edge node>`. A lost command (no listener, Redis away) is not retried:
the next incomplete batch asks again.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mqtt_app import coordination
from mqtt_app.models import MqttConnection, SparkplugNode

from .values import pb

logger = logging.getLogger(__name__)
REBIRTH_METRIC = "Node Control/Rebirth"
MAX_PUBLISH_QUEUE = 1000  # commands one listener may have waiting (a listener gone for long)


def command_topic(group: str, edge_node: str) -> str:
    return f"spBv1.0/{group}/NCMD/{edge_node}"


def command_payload(now_ms: int | None = None) -> bytes:
    at = int(time.time() * 1000) if now_ms is None else now_ms
    payload = pb.Payload(timestamp=at)
    metric = payload.metrics.add()
    metric.name, metric.timestamp, metric.datatype, metric.boolean_value = REBIRTH_METRIC, at, pb.Boolean, True
    return payload.SerializeToString()


def after_commit(connection_id: int, nodes: Iterable[tuple[str, str]]) -> None:
    wanted = sorted(nodes)
    transaction.on_commit(lambda: _request_safely(connection_id, wanted))


def _request_safely(connection_id: int, nodes: list[tuple[str, str]]) -> None:
    try:
        request(connection_id, nodes)
    except Exception as exc:  # noqa: BLE001 - the batch is stored; the next incomplete one asks again
        logger.warning("connection %s: rebirth request not sent: %s", connection_id, exc)


def request(connection_id: int, nodes: list[tuple[str, str]]) -> int:
    """Queue a rebirth command for each edge node not asked within the interval; returns how many."""
    if not MqttConnection.objects.filter(pk=connection_id, sparkplug_rebirth=True).exists():
        return 0
    client = coordination.connect()
    listener = client.hget(coordination.assignments_key(), str(connection_id))
    if not listener:
        return 0
    listener_id = listener.decode() if isinstance(listener, bytes) else str(listener)
    interval = int(settings.MQTT_SPARKPLUG_REBIRTH_INTERVAL)
    key = coordination.publish_key(listener_id)
    asked = []
    for group, edge_node in nodes:
        limit = f"{settings.REDIS_KEY_PREFIX}:rebirth:{connection_id}:{len(group)}:{group}:{edge_node}"
        if not client.set(limit, 1, nx=True, ex=interval):
            continue
        command = {"connection": connection_id, "topic": command_topic(group, edge_node),
                   "payload": base64.b64encode(command_payload()).decode()}  # fmt: skip
        pipe = client.pipeline()
        pipe.rpush(key, json.dumps(command))
        pipe.ltrim(key, -MAX_PUBLISH_QUEUE, -1)
        pipe.expire(key, max(interval, 300))
        pipe.execute()
        asked.append((group, edge_node))
    if asked:
        coordination.notify(client, {listener_id})
        now = timezone.now()
        for group, edge_node in asked:
            edge = SparkplugNode.objects.filter(connection_id=connection_id, group=group, edge_node=edge_node)
            edge.filter(device="").update(rebirths_requested=F("rebirths_requested") + 1, last_rebirth_request_at=now)
        logger.info("connection %s: rebirth asked of %s", connection_id, ", ".join(f"{g}/{e}" for g, e in asked))
    return len(asked)


def take_commands(client, listener_id: str, limit: int = 100) -> list[tuple[int, str, bytes]]:  # noqa: ANN001
    """The listener's side: the commands waiting for it, oldest first."""
    raw = client.lpop(coordination.publish_key(listener_id), limit) or []
    commands = []
    for item in raw:
        try:
            command = json.loads(item)
            commands.append((int(command["connection"]), str(command["topic"]), base64.b64decode(command["payload"])))
        except (ValueError, KeyError, TypeError):
            logger.warning("listener %s: a malformed publish command was dropped", listener_id)
    return commands
