"""The WebSocket event `alert`: every firing, acknowledgement and resolution, to the sockets of the alert's site."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from mqtt_app.events import STATUS_GROUP, broadcast_many

if TYPE_CHECKING:
    from .models import Alert
    from .notify import Change


class AlertEvent(BaseModel):
    type: Literal["alert"] = "alert"
    id: int
    site: int
    connection: int | None
    topic: int | None
    rule: int
    rule_name: str
    kind: str
    state: str
    subject: str
    since: datetime
    value: float | None = None


def event_for(alert: Alert) -> AlertEvent:
    return AlertEvent(id=alert.pk, site=alert.site_id, connection=alert.connection_id, topic=alert.topic_id,
                      rule=alert.rule_id, rule_name=alert.rule.name, kind=alert.rule.kind, state=alert.state,
                      subject=alert.subject, since=alert.since, value=alert.value)  # fmt: skip


def broadcast_changes(changes: list[Change]) -> None:
    broadcast_many(STATUS_GROUP, [event_for(change.alert) for change in changes if not change.reminder])


def broadcast_alert(alert: Alert) -> None:
    broadcast_many(STATUS_GROUP, [event_for(alert)])
