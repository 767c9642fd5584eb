"""Connections: `GET/POST /api/connections`, `GET/PATCH/DELETE /api/connections/{id}`.

The password and TLS client key are write-only: responses carry `has_password` / `tls.has_client_key`, and
list queries do not even load them. Every change asks for a reconcile after commit, so listeners pick up new
hosts, credentials and topic filters within about a second.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status

from mqtt_app import access
from mqtt_app.models import ConnectionStatus, MqttConnection
from mqtt_app.models.connections import BROKER_FIELDS
from mqtt_app.services import audit
from mqtt_app.services.control import request_reconcile

from . import auth, timestamps
from .auth import ApiRequest
from .errors import field_error
from .pagination import PageParams, filter_by, page_of, paginate
from .renderer import json_response
from .schemas import ERRORS_READ, ERRORS_WRITE, ConnectionIn, ConnectionOut, ConnectionPatch
from .writes import get_for, get_or_404, save_validated

logger = logging.getLogger(__name__)
router = Router(tags=["connections"], auth=auth.readers())
ConnectionPage = page_of(ConnectionOut, "ConnectionPage")

# Model field → API field, so a full_clean() error names what the client sent.
FIELD_NAMES = {
    "tls_enabled": "tls.enabled",
    "tls_ca_certs": "tls.ca_certs",
    "tls_client_cert": "tls.client_cert",
    "tls_client_key": "tls.client_key",
    "tls_insecure": "tls.insecure",
}
# Output fields copied as they are from a row; the others are renamed or derived in connection_out().
SAME_FIELDS = ("id", "name", "host", "port", "protocol", "keepalive", "client_id", "username", "has_password",
               "topics", "is_active", "keep_raw_days", "sparkplug_rebirth", "status", "status_detail", "listener",
               "messages_received")  # fmt: skip
TIME_FIELDS = ("status_changed_at", "last_connected_at", "last_message_at", "last_heartbeat_at", "created_at",
               "updated_at")  # fmt: skip
OTHER_FIELDS = ("site_id", "site__name", "tls_enabled", "tls_ca_certs", "tls_client_cert", "has_client_key",
                "tls_insecure", "connect_count")  # fmt: skip
PLAIN_FIELDS = ("name", "host", "port", "protocol", "keepalive", "client_id", "username", "is_active", "keep_raw_days",
                "sparkplug_rebirth")  # fmt: skip
# Secrets among them are masked by audit.diff.
AUDIT_FIELDS = ("site", "name", "is_active", "keep_raw_days", "sparkplug_rebirth", *BROKER_FIELDS)


class ConnectionFilters(Schema):
    site: int | None = Field(None, description="Only this site's connections.")
    is_active: bool | None = None
    status: ConnectionStatus | None = None
    search: str | None = Field(None, description="Part of the name or host.")


def connection_queryset() -> QuerySet:
    """Rows as dicts, in one query with the site joined; secrets replaced by "is it set" flags.

    `values()` rather than model instances: building 1,000 instances cost more than the query itself;
    timestamps come as text (see timestamps.py), parsed in connection_out().
    """
    return (
        MqttConnection.objects.annotate(
            has_password=ExpressionWrapper(~Q(password=""), output_field=BooleanField()),
            has_client_key=ExpressionWrapper(~Q(tls_client_key=""), output_field=BooleanField()),
            **timestamps.as_text(TIME_FIELDS),
        )
        .order_by("site__name", "name", "id")
        .values(*SAME_FIELDS, *OTHER_FIELDS, *timestamps.text_names(TIME_FIELDS))
    )


def connection_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {key: row[key] for key in SAME_FIELDS}
    timestamps.copy_parsed(row, out, TIME_FIELDS)
    out["site"] = row["site_id"]
    out["site_name"] = row["site__name"]
    # The same rules as MqttConnection.effective_client_id and .restart_count.
    out["effective_client_id"] = row["client_id"] or f"mqttmon-{row['id']}"
    out["restart_count"] = max(row["connect_count"] - 1, 0)
    out["tls"] = {
        "enabled": row["tls_enabled"], "ca_certs": row["tls_ca_certs"], "client_cert": row["tls_client_cert"],
        "has_client_key": row["has_client_key"], "insecure": row["tls_insecure"],
    }  # fmt: skip
    return out


def _apply(user: Any, conn: MqttConnection, data: dict[str, Any], payload: ConnectionPatch) -> None:  # noqa: ANN401
    """Copy the fields the client sent onto the model (a PATCH leaves the others alone)."""
    if "site" in data:
        site_id = data["site"]
        # A site the caller cannot see reads as one that does not exist; one they only view is a 403.
        if site_id is None or not access.sites_for(user).filter(pk=site_id).exists():
            raise field_error("site", f"no site with id {site_id}")
        access.require_site(user, site_id, access.MANAGER)
        conn.site_id = site_id
    for field in PLAIN_FIELDS:
        if field in data:
            if data[field] is None:
                raise field_error(field, "must not be null")
            setattr(conn, field, data[field])
    if "topics" in data:
        conn.topics = data["topics"]  # checked by the model's validate_subscriptions in full_clean()
    if "password" in data:
        conn.password = payload.password.get_secret_value() if payload.password else ""
    if "tls" in data and payload.tls is not None:
        tls = payload.tls
        for key in tls.model_fields_set:
            value = getattr(tls, key)
            if key == "client_key":
                value = value.get_secret_value() if value is not None else ""
            elif value is None:
                raise field_error(f"tls.{key}", "must not be null")
            setattr(conn, f"tls_{key}", value)


def _save(conn: MqttConnection) -> None:
    if conn.host:
        conn.host = conn.host.strip()
    save_validated(conn, FIELD_NAMES, unique_field="name")
    request_reconcile()


def _reload(pk: int) -> dict[str, Any]:
    return connection_out(connection_queryset().get(pk=pk))


@router.get("/connections", response={200: ConnectionPage, **ERRORS_READ}, summary="List connections")
def list_connections(request: ApiRequest, filters: Query[ConnectionFilters], page: Query[PageParams]) -> HttpResponse:
    lookups = {"site": "site_id", "is_active": "is_active", "status": "status"}
    queryset = filter_by(access.filter_for(request.auth, connection_queryset()), filters, lookups)
    if filters.search:
        queryset = queryset.filter(Q(name__icontains=filters.search) | Q(host__icontains=filters.search))
    # Rendered here, without ninja's response validation: for 1,000 rows that was 20 ms of a 50 ms budget.
    # tests/api/test_connections.py validates this output against ConnectionPage instead.
    return json_response(paginate(queryset, page.limit, page.offset, connection_out))


@router.post("/connections", response={201: ConnectionOut, **ERRORS_WRITE}, summary="Create a connection")
def create_connection(request: ApiRequest, payload: ConnectionIn) -> Status:
    data = payload.model_dump(exclude_unset=True)
    data.setdefault("site", payload.site)
    conn = MqttConnection(port=payload.port, protocol=payload.protocol, keepalive=payload.keepalive)
    _apply(request.auth, conn, data, payload)
    _save(conn)
    changes = audit.diff({}, audit.snapshot(conn, AUDIT_FIELDS))
    audit.record(request.auth, "connection.create", site_id=conn.site_id, connection_id=conn.pk, target=str(conn),
                 changes=changes)  # fmt: skip
    logger.info("connection %s (%s) created by %s", conn.pk, conn.name, request.auth)
    return Status(201, _reload(conn.pk))


@router.get("/connections/{connection_id}", response={200: ConnectionOut, **ERRORS_READ}, summary="One connection")
def get_connection(request: ApiRequest, connection_id: int) -> dict:
    return connection_out(
        get_or_404(access.filter_for(request.auth, connection_queryset()), connection_id, "connection")
    )


@router.patch(
    "/connections/{connection_id}", response={200: ConnectionOut, **ERRORS_WRITE},
    summary="Change a connection",
)  # fmt: skip
def patch_connection(request: ApiRequest, connection_id: int, payload: ConnectionPatch) -> dict:
    conn = get_for(request.auth, MqttConnection.objects.all(), connection_id, "connection", access.MANAGER)
    data = payload.model_dump(exclude_unset=True)
    before = audit.snapshot(conn, AUDIT_FIELDS)
    _apply(request.auth, conn, data, payload)
    _save(conn)
    changes = audit.diff(before, audit.snapshot(conn, AUDIT_FIELDS))
    if changes:
        audit.record(request.auth, "connection.change", site_id=conn.site_id, connection_id=conn.pk,
                     target=str(conn), changes=changes)  # fmt: skip
    # Field names only: values (credentials among them) stay out of the logs.
    logger.info("connection %s changed by %s: %s", conn.pk, request.auth, ", ".join(sorted(data)))
    return _reload(conn.pk)


@router.delete(
    "/connections/{connection_id}", response={204: None, **ERRORS_WRITE},
    summary="Delete a connection (its listener disconnects on the next reconcile)",
)  # fmt: skip
def delete_connection(request: ApiRequest, connection_id: int) -> Status:
    conn = get_for(request.auth, MqttConnection.objects.select_related("site"), connection_id, "connection",
                   access.MANAGER)  # fmt: skip
    target = str(conn)
    conn.delete()
    audit.record(request.auth, "connection.delete", site_id=conn.site_id, connection_id=connection_id, target=target)
    request_reconcile()
    logger.info("connection %s deleted by %s", connection_id, request.auth)
    return Status(204, None)
