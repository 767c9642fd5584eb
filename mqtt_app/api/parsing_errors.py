"""`GET /api/parsing-errors?connection=&topic=`: grouped parse failures, most recent first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.models import MqttParsingLog

from . import auth
from .auth import ApiRequest
from .pagination import PageParams, filter_by, page_of, paginate
from .schemas import ERRORS_READ, Out

router = Router(tags=["parsing errors"], auth=auth.readers())


class ErrorDetailOut(Out):
    loc: str = ""
    msg: str = ""
    type: str = ""


class ParsingErrorOut(Out):
    id: int
    connection: int
    topic: int | None
    topic_name: str
    parser_name: str
    error_kind: str
    message: str
    location: str = Field(description="First error location in the payload, e.g. 'e.0.v'.")
    details: list[dict[str, Any]] = Field(description="Pydantic errors: loc, msg, type.")
    payload_excerpt: str
    payload_size: int
    count: int = Field(description="How many times this failure repeated in its group window.")
    first_seen_at: datetime
    last_seen_at: datetime


class ParsingErrorFilters(Schema):
    connection: int | None = None
    topic: int | None = Field(None, description="Topic id.")
    error_kind: str | None = None


ParsingErrorPage = page_of(ParsingErrorOut, "ParsingErrorPage")
FIELDS = ("id", "topic_name", "parser_name", "error_kind", "message", "location", "details", "payload_excerpt",
          "payload_size", "count", "first_seen_at", "last_seen_at")  # fmt: skip


def _out(row: dict[str, Any]) -> dict[str, Any]:
    row["connection"] = row.pop("connection_id")
    row["topic"] = row.pop("topic_id")
    return row


@router.get("/parsing-errors", response={200: ParsingErrorPage, **ERRORS_READ}, summary="Parse failures, newest first")
def list_parsing_errors(request: ApiRequest, filters: Query[ParsingErrorFilters], page: Query[PageParams]) -> dict:
    lookups = {"connection": "connection_id", "topic": "topic_id", "error_kind": "error_kind"}
    queryset = access.filter_for(request.auth, MqttParsingLog.objects.order_by("-last_seen_at", "-id"))
    queryset = filter_by(queryset, filters, lookups)
    return paginate(queryset.values(*FIELDS, "connection_id", "topic_id"), page.limit, page.offset, _out)
