"""Synchronous ORM reads for the WebSocket consumer (called through database_sync_to_async)."""

from __future__ import annotations

from typing import Any

from mqtt_app import access
from mqtt_app.models import MqttConnection, MqttTopic
from mqtt_app.services.status import status_event

SNAPSHOT_FIELDS = (
    "id", "site_id", "name", "is_active", "status", "status_detail", "listener", "status_changed_at",
    "last_connected_at", "last_message_at", "last_heartbeat_at", "connect_count",
)  # fmt: skip


def status_snapshot(user: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """The current `connection.status` event of every connection of the user's sites, as sent to a socket that
    just connected."""
    connections = access.filter_for(user, MqttConnection.objects.only(*SNAPSHOT_FIELDS).order_by("id"))
    return [status_event(c).model_dump(mode="json") for c in connections.iterator(chunk_size=500)]


def connection_visible(user: Any, connection_id: int) -> bool:  # noqa: ANN401
    """The connection exists and is on one of the user's sites."""
    return access.filter_for(user, MqttConnection.objects.filter(pk=connection_id)).exists()


def site_ids(user: Any) -> set[int] | None:  # noqa: ANN401
    """The sites whose events a socket may receive; None: all (a superuser)."""
    return access.site_ids(user)


def fresh_access(user_id: int) -> tuple[Any, set[int] | None]:
    """The user as the database has it now (None: deleted or deactivated) and the sites they may see."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user, (access.site_ids(user) if user is not None else set())


def topics_of_connection(connection_id: int, topic_ids: frozenset[int]) -> frozenset[int]:
    """The ones of `topic_ids` that are topics of this connection."""
    rows = MqttTopic.objects.filter(connection_id=connection_id, pk__in=topic_ids).values_list("pk", flat=True)
    return frozenset(rows)
