"""Alerts: `GET /api/alerts?state=&site=&connection=&topic=&rule=` (firing first, then acknowledged, then
resolved; newest first within each), `GET /api/alerts/{id}`, `POST /api/alerts/{id}/acknowledge` (operators).

The list's `count` with `state=firing` is the badge of the dashboard, connection and topic pages.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from django.db.models import Case, IntegerField, Value, When
from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.alerts.live import broadcast_alert
from mqtt_app.alerts.models import Alert, AlertState
from mqtt_app.alerts.notify import page_url
from mqtt_app.alerts.service import acknowledge
from mqtt_app.services import audit

from . import auth
from .alert_schemas import AlertOut
from .auth import ApiRequest
from .errors import ApiError
from .pagination import PageParams, filter_by, page_of, paginate
from .schemas import ERRORS_READ, ERRORS_WRITE
from .writes import get_for

logger = logging.getLogger(__name__)
router = Router(tags=["alerts"], auth=auth.readers())
AlertPage = page_of(AlertOut, "AlertPage")
STATE_ORDER = Case(
    When(state=AlertState.FIRING, then=Value(0)),
    When(state=AlertState.ACKNOWLEDGED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


class AlertFilters(Schema):
    state: Literal["firing", "acknowledged", "resolved", "open"] | None = Field(
        None, description="'open': firing or acknowledged."
    )
    site: int | None = None
    connection: int | None = None
    topic: int | None = None
    rule: int | None = None


def alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk, "state": alert.state, "rule": alert.rule_id, "rule_name": alert.rule.name,
        "kind": alert.rule.kind, "site": alert.site_id, "connection": alert.connection_id, "topic": alert.topic_id,
        "subject": alert.subject, "value": alert.value, "since": alert.since, "fired_at": alert.fired_at,
        "acknowledged_at": alert.acknowledged_at, "acknowledged_by": alert.acknowledged_by_name,
        "resolved_at": alert.resolved_at, "url": page_url(alert),
    }  # fmt: skip


def _alerts() -> Any:  # noqa: ANN401
    return Alert.objects.select_related("rule").order_by(STATE_ORDER, "-fired_at", "-id")


@router.get("/alerts", response={200: AlertPage, **ERRORS_READ}, summary="Alerts, firing first")
def list_alerts(request: ApiRequest, filters: Query[AlertFilters], page: Query[PageParams]) -> dict:
    alerts = access.filter_for(request.auth, _alerts())
    if filters.state == "open":
        alerts = alerts.filter(resolved_at__isnull=True)
    elif filters.state:
        alerts = alerts.filter(state=filters.state)
    lookups = {"site": "site_id", "connection": "connection_id", "topic": "topic_id", "rule": "rule_id"}
    return paginate(filter_by(alerts, filters, lookups), page.limit, page.offset, alert_out)


@router.get("/alerts/{alert_id}", response={200: AlertOut, **ERRORS_READ}, summary="One alert")
def get_alert(request: ApiRequest, alert_id: int) -> dict:
    return alert_out(get_for(request.auth, _alerts(), alert_id, "alert"))


@router.post(
    "/alerts/{alert_id}/acknowledge", response={200: AlertOut, **ERRORS_WRITE},
    summary="Acknowledge a firing alert (no more reminders; it still resolves on its own)",
)  # fmt: skip
def acknowledge_alert(request: ApiRequest, alert_id: int) -> dict:
    alert = get_for(request.auth, _alerts(), alert_id, "alert", access.OPERATOR)
    if not acknowledge(alert, request.auth):
        raise ApiError(409, f"Alert {alert_id} is {alert.state}: only a firing alert can be acknowledged.")
    audit.record(request.auth, "alert.acknowledge", site_id=alert.site_id, connection_id=alert.connection_id,
                 target=f"{alert.rule.name}: {alert.subject}")  # fmt: skip
    broadcast_alert(alert)
    return alert_out(alert)
