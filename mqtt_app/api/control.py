"""Start/stop and the event log of a connection.

Start/stop only set the desired state (`is_active`) through `services.control.set_active`, which enqueues a
reconcile after commit; the API never talks to a listener. Hence 202: accepted, converging.
"""

from __future__ import annotations

import logging

from ninja import Query, Router, Status

from mqtt_app import access
from mqtt_app.models import MqttConnection, MqttConnectionLog
from mqtt_app.services.control import set_active

from . import auth
from .auth import ApiRequest
from .pagination import PageParams, page_of, paginate
from .schemas import ERRORS_READ, ERRORS_WRITE, ConnectionEventOut, ControlOut
from .writes import get_for

logger = logging.getLogger(__name__)
router = Router(tags=["connections"], auth=auth.readers())
EventPage = page_of(ConnectionEventOut, "ConnectionEventPage")
STATE_FIELDS = ("id", "is_active", "status", "status_detail", "listener")


def _control(request: ApiRequest, connection_id: int, active: bool) -> Status:
    get_for(request.auth, MqttConnection.objects.only("id", "site_id"), connection_id, "connection", access.OPERATOR)
    changed = set_active([connection_id], active, user=request.auth, via="api") > 0
    state = MqttConnection.objects.values(*STATE_FIELDS).get(pk=connection_id)
    logger.info("connection %s %s by %s", connection_id, "started" if active else "stopped", request.auth)
    return Status(202, {**state, "changed": changed})


@router.post(
    "/connections/{connection_id}/start", response={202: ControlOut, **ERRORS_WRITE},
    summary="Start: set is_active (the listeners connect within about a second)",
)  # fmt: skip
def start_connection(request: ApiRequest, connection_id: int) -> Status:
    return _control(request, connection_id, True)


@router.post(
    "/connections/{connection_id}/stop", response={202: ControlOut, **ERRORS_WRITE},
    summary="Stop: clear is_active (the listener disconnects within about a second)",
)  # fmt: skip
def stop_connection(request: ApiRequest, connection_id: int) -> Status:
    return _control(request, connection_id, False)


@router.get(
    "/connections/{connection_id}/events", response={200: EventPage, **ERRORS_READ},
    summary="The connection's status events, newest first",
)  # fmt: skip
def connection_events(request: ApiRequest, connection_id: int, page: Query[PageParams]) -> dict:
    get_for(request.auth, MqttConnection.objects.only("id", "site_id"), connection_id, "connection")
    events = MqttConnectionLog.objects.filter(connection_id=connection_id).order_by("-created_at", "-id")
    return paginate(events.values("id", "event", "status", "detail", "listener", "created_at"), page.limit, page.offset)
