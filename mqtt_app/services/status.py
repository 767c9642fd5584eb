"""Connection status bookkeeping: the database first, then the log file, then the broadcast.

Listeners never touch the database: they enqueue `tasks.status.record_status` and
`tasks.status.record_heartbeat`, which call the functions here on a worker. Reconciliation calls
`record_status` directly for the changes it decides (starting, stopping, reassigned).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mqtt_app.events import STATUS_GROUP, ConnectionStatusEvent, broadcast_many
from mqtt_app.models import ConnectionEvent, ConnectionStatus, MqttConnection, MqttConnectionLog

logger = logging.getLogger(__name__)
connections_log = logging.getLogger("mqtt.connections")

EVENT_FOR_STATUS: dict[str, str] = {
    ConnectionStatus.STARTING: ConnectionEvent.STARTED,
    ConnectionStatus.CONNECTED: ConnectionEvent.CONNECTED,
    ConnectionStatus.RECONNECTING: ConnectionEvent.DISCONNECTED,
    ConnectionStatus.ERROR: ConnectionEvent.ERROR,
    ConnectionStatus.STOPPING: ConnectionEvent.STOPPED,
    ConnectionStatus.STOPPED: ConnectionEvent.STOPPED,
}
MAX_DETAIL = 2000


def _when(at_epoch: float | None) -> datetime:
    return datetime.fromtimestamp(at_epoch, tz=UTC) if at_epoch else timezone.now()


@dataclass(frozen=True)
class StatusChange:
    connection_id: int
    status: str
    detail: str = ""
    listener_id: str = ""
    at_epoch: float | None = None
    event: str | None = None


def record_status(
    connection_id: int,
    status: str,
    detail: str = "",
    listener_id: str = "",
    at_epoch: float | None = None,
    event: str | None = None,
) -> bool:
    """Record one status change observed at `at_epoch`. Returns whether it was recorded."""
    change = StatusChange(connection_id, status, detail, listener_id, at_epoch, event)
    return bool(record_statuses([change]))


def record_statuses(changes: list[StatusChange], broadcast: bool = True) -> list[int]:
    """Record status changes in one transaction, then log and broadcast them. A change older than the
    stored status change is ignored (tasks may run out of order on several workers). Returns the ids of
    the connections whose status was recorded. `broadcast=False` leaves the broadcast to the caller
    (`broadcast_statuses`), e.g. to send it after releasing a lock."""
    recorded: list[tuple[StatusChange, str]] = []
    with transaction.atomic():
        for group, members in _grouped(changes).items():
            recorded += [(change, group[3]) for change in _apply_group(group, members)]
    for change, event in recorded:
        connections_log.info(
            "connection=%s event=%s status=%s listener=%s detail=%s",
            change.connection_id,
            event,
            change.status,
            change.listener_id or "-",
            change.detail or "-",
        )
    ids = [change.connection_id for change, _ in recorded]
    errors = [(c.connection_id, c.detail) for c, _ in recorded if c.status == ConnectionStatus.ERROR]
    if errors:
        from mqtt_app.alerts.reporting import report_connection_errors

        report_connection_errors(errors)  # broker failures are logged at INFO: this is where someone hears of them
    if broadcast:
        broadcast_statuses(ids)
    return ids


def _grouped(changes: list[StatusChange]) -> dict[tuple, list[StatusChange]]:
    """Changes that can share one UPDATE: same status, detail, listener, event and time."""
    groups: dict[tuple, list[StatusChange]] = {}
    for change in changes:
        if change.status not in ConnectionStatus.values:
            logger.warning("ignoring unknown status %r for connection %s", change.status, change.connection_id)
            continue
        event = change.event if change.event in ConnectionEvent.values else EVENT_FOR_STATUS[change.status]
        key = (change.status, (change.detail or "")[:MAX_DETAIL], change.listener_id, event, change.at_epoch)
        groups.setdefault(key, []).append(change)
    return groups


def _apply_group(group: tuple, members: list[StatusChange]) -> list[StatusChange]:
    status, detail, listener_id, event, at_epoch = group
    at = _when(at_epoch)
    in_order = Q(status_changed_at__isnull=True) | Q(status_changed_at__lte=at)
    wanted = {change.connection_id: change for change in members}
    eligible = list(
        MqttConnection.objects.select_for_update()
        .filter(pk__in=list(wanted))
        .filter(in_order)
        .values_list("pk", flat=True)
    )
    stale = set(wanted) - set(eligible)
    if stale:
        logger.info("ignoring stale or orphan status %s for connections %s", status, sorted(stale))
    if not eligible:
        return []
    changes: dict = {"status": status, "status_detail": detail, "status_changed_at": at, "updated_at": timezone.now()}
    changes["listener"] = "" if status == ConnectionStatus.STOPPED else listener_id
    if status == ConnectionStatus.CONNECTED and event == ConnectionEvent.CONNECTED:
        changes.update(last_connected_at=at, connect_count=F("connect_count") + 1)
    MqttConnection.objects.filter(pk__in=eligible).update(**changes)
    MqttConnectionLog.objects.bulk_create(
        MqttConnectionLog(
            connection_id=pk, event=event, status=status, detail=detail, listener=listener_id, created_at=at
        )
        for pk in eligible
    )
    return [wanted[pk] for pk in eligible]


def broadcast_statuses(connection_ids: list[int]) -> None:
    """One ConnectionStatusEvent per connection, sent in one event loop (one Redis connection)."""
    if not connection_ids:
        return
    connections = MqttConnection.objects.filter(pk__in=connection_ids)
    broadcast_many(STATUS_GROUP, [status_event(connection) for connection in connections])


def status_event(connection: MqttConnection) -> ConnectionStatusEvent:
    return ConnectionStatusEvent(
        connection=connection.pk,
        site=connection.site_id,
        name=connection.name,
        is_active=connection.is_active,
        status=connection.status,
        detail=connection.status_detail,
        listener=connection.listener,
        status_changed_at=connection.status_changed_at,
        last_connected_at=connection.last_connected_at,
        last_message_at=connection.last_message_at,
        last_heartbeat_at=connection.last_heartbeat_at,
        restart_count=connection.restart_count,
    )


def record_heartbeat(listener_id: str, at_epoch: float, connection_ids: list[int]) -> int:
    """A listener's periodic report of the connections it holds: one UPDATE per report. (Message counts
    and `last_message_at` are bumped by the ingest worker once per batch.)"""
    return MqttConnection.objects.filter(pk__in=connection_ids, listener=listener_id).update(
        last_heartbeat_at=_when(at_epoch)
    )
