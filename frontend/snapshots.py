"""Synchronous ORM reads for the WebSocket consumer (called through database_sync_to_async)."""

from __future__ import annotations

from typing import Any

from mqtt_app.models import MqttConnection, MqttTopic
from mqtt_app.services.status import status_event

SNAPSHOT_FIELDS = (
    "id", "site_id", "name", "is_active", "status", "status_detail", "listener", "status_changed_at",
    "last_connected_at", "last_message_at", "last_heartbeat_at", "connect_count",
)  # fmt: skip


def status_snapshot() -> list[dict[str, Any]]:
    """The current `connection.status` event of every connection, as sent to a socket that just connected."""
    connections = MqttConnection.objects.only(*SNAPSHOT_FIELDS).order_by("id")
    return [status_event(c).model_dump(mode="json") for c in connections.iterator(chunk_size=500)]


def connection_exists(connection_id: int) -> bool:
    return MqttConnection.objects.filter(pk=connection_id).exists()


def topics_of_connection(connection_id: int, topic_ids: frozenset[int]) -> frozenset[int]:
    """The ones of `topic_ids` that are topics of this connection."""
    rows = MqttTopic.objects.filter(connection_id=connection_id, pk__in=topic_ids).values_list("pk", flat=True)
    return frozenset(rows)
