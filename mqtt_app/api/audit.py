"""`GET /api/audit?site=&connection=&action=`: the audit trail, newest first, of the sites the caller sees.

Entries without a site (API tokens) are listed to superusers only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.models import AuditEntry

from . import auth
from .auth import ApiRequest
from .pagination import PageParams, filter_by, page_of, paginate
from .schemas import ERRORS_READ, Out

router = Router(tags=["audit"], auth=auth.readers())


class AuditOut(Out):
    id: int
    at: datetime
    user: str = Field(description="The user name (kept after the user is deleted).")
    via: str = Field(description="api, admin or cli.")
    action: str = Field(description="e.g. connection.start, connection.change, topic.change, role.grant.")
    site: int | None
    connection: int | None
    target: str
    changes: dict[str, Any] = Field(description='{field: {"old", "new"}}; secrets only as "(set)"/"(empty)".')


class AuditFilters(Schema):
    site: int | None = None
    connection: int | None = None
    action: str | None = Field(None, description="Exact action, e.g. connection.stop.")


AuditPage = page_of(AuditOut, "AuditPage")
FIELDS = ("id", "at", "username", "via", "action", "site_id", "connection_id", "target", "changes")


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "at": row["at"], "user": row["username"], "via": row["via"], "action": row["action"],
        "site": row["site_id"], "connection": row["connection_id"], "target": row["target"], "changes": row["changes"],
    }  # fmt: skip


@router.get("/audit", response={200: AuditPage, **ERRORS_READ}, summary="Who changed what, newest first")
def list_audit(request: ApiRequest, filters: Query[AuditFilters], page: Query[PageParams]) -> dict:
    lookups = {"site": "site_id", "connection": "connection_id", "action": "action"}
    queryset = filter_by(access.filter_for(request.auth, AuditEntry.objects.order_by("-at", "-id")), filters, lookups)
    return paginate(queryset.values(*FIELDS), page.limit, page.offset, _out)
