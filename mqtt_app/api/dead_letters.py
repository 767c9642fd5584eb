"""Dead letters: messages that could not be stored, kept whole for a replay.

`GET /api/dead-letters?connection=&site=&replayed=&error_kind=`, `GET /api/dead-letters/{id}`,
`GET /api/dead-letters/{id}/payload` (the raw bytes), and, for operators of the site,
`POST /api/dead-letters/{id}/replay` and `POST /api/dead-letters/replay` with `{"ids": [...]}`
(services/dead_letters.py: stored at most once).
Lists and details show a bounded excerpt of the payload and its size, never the whole payload.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import F, Func, IntegerField, QuerySet
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.ingest.errors import excerpt
from mqtt_app.models import DeadLetter, MqttConnection
from mqtt_app.services import dead_letters as service

from . import auth
from .auth import ApiRequest
from .errors import ApiError
from .pagination import PageParams, filter_by, page_of, paginate
from .schemas import ERRORS_READ, ERRORS_WRITE, In, Out

logger = logging.getLogger(__name__)
router = Router(tags=["dead letters"], auth=auth.readers())

EXCERPT_BYTES = 1024
MAX_REPLAY_IDS = 500  # one request replays at most this many: each is a transaction of its own
FIELDS = ("id", "batch", "connection_id", "topic", "qos", "retain", "received_at", "error_kind", "error",
          "created_at", "replay_count", "replayed_at", "replay_result")  # fmt: skip
State = Literal["pending", "failed_again", "stored"]


class DeadLetterOut(Out):
    id: uuid.UUID
    batch: uuid.UUID = Field(description="The listener batch the message came in.")
    connection: int
    connection_name: str = Field(description="Empty when the connection has been deleted since.")
    site: int | None
    site_name: str
    topic: str
    qos: int
    retain: bool
    received_at: datetime
    error_kind: str
    error: str
    created_at: datetime
    payload_excerpt: str = Field(
        description=f"The payload's first {EXCERPT_BYTES} bytes as text (undecodable bytes replaced)."
    )
    payload_size: int = Field(description="The whole payload's size in bytes (GET .../payload returns it).")
    state: State = Field(description="pending: never replayed; failed_again: replayed, not stored; stored.")
    replay_count: int
    replayed_at: datetime | None
    replay_result: str = Field(description='"stored", or "failed again: <reason>"; empty before a replay.')


class DeadLetterFilters(Schema):
    connection: int | None = None
    site: int | None = Field(None, description="Only this site's connections.")
    replayed: bool | None = Field(None, description="true: stored by a replay; false: not stored yet.")
    error_kind: str | None = None


class ReplayIn(In):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_REPLAY_IDS, description="Dead letter ids.")


class ReplayResultOut(Out):
    id: uuid.UUID
    status: Literal["stored", "failed", "already_stored", "not_found"]
    detail: str
    replay_count: int
    replay_result: str


class ReplayResultsOut(Out):
    results: list[ReplayResultOut]


DeadLetterPage = page_of(DeadLetterOut, "DeadLetterPage")


class _Head(Func):
    """The payload's first bytes, in the database: a list never reads whole payloads (SUBSTR works on bytea
    and blobs alike, and counts bytes there)."""

    function = "SUBSTR"


def dead_letter_queryset() -> QuerySet:
    return DeadLetter.objects.order_by("-created_at", "id").annotate(
        payload_head=_Head(F("payload"), 1, EXCERPT_BYTES + 1, output_field=DeadLetter._meta.get_field("payload")),
        payload_size=Func(F("payload"), function="LENGTH", output_field=IntegerField()),
    )


def _state(replay_count: int, replay_result: str) -> str:
    if replay_result == service.STORED:
        return "stored"
    return "failed_again" if replay_count else "pending"


def _render(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Connection and site names looked up once per page; a deleted connection (no database constraint)
    leaves its dead letters listed, with empty names."""
    ids = {row["connection_id"] for row in rows}
    names = {
        c["id"]: c for c in MqttConnection.objects.filter(pk__in=ids).values("id", "name", "site_id", "site__name")
    }
    out = []
    for row in rows:
        conn: Mapping[str, Any] = names.get(row["connection_id"], {})
        head = bytes(row.pop("payload_head") or b"")
        item = {key: row[key] for key in FIELDS if key != "connection_id"}
        item.update(
            connection=row["connection_id"], connection_name=conn.get("name", ""), site=conn.get("site_id"),
            site_name=conn.get("site__name", ""), payload_size=row["payload_size"] or 0,
            payload_excerpt=excerpt(head, EXCERPT_BYTES), state=_state(row["replay_count"], row["replay_result"]),
        )  # fmt: skip
        out.append(item)
    return out


def _get(user: Any, dead_letter_id: uuid.UUID) -> dict[str, Any]:  # noqa: ANN401
    rows = list(
        access.filter_for(user, dead_letter_queryset())
        .filter(pk=dead_letter_id)
        .values(*FIELDS, "payload_head", "payload_size")
    )
    if not rows:
        raise ApiError(404, f"No dead letter with id {dead_letter_id}.")
    return _render(rows)[0]


# The bulk replay comes before the {dead_letter_id} paths: "replay" would otherwise be read as an id.
@router.post(
    "/dead-letters/replay", response={200: ReplayResultsOut, **ERRORS_WRITE},
    summary="Replay several dead letters (each stored at most once)",
)  # fmt: skip
def replay_dead_letters(request: ApiRequest, payload: ReplayIn) -> dict:
    ids = _replayable(request.auth, payload.ids)
    results = service.replay(ids, request.auth, "api")
    # The caller's view of the others: they do not exist.
    results += [service.ReplayResult(pk, "not_found", "No dead letter with this id.") for pk in payload.ids
                if pk not in ids]  # fmt: skip
    return {"results": [result.as_dict() for result in results]}


def _replayable(user: Any, ids: list[uuid.UUID]) -> list[uuid.UUID]:  # noqa: ANN401
    """The ids the caller may replay (operator of their site); 403 if any is visible to them but not theirs to
    replay (nothing is replayed then); ids they cannot see are left out (answered as not found)."""
    rows = DeadLetter.objects.filter(pk__in=ids)
    allowed = set(access.filter_for(user, rows, access.OPERATOR).values_list("pk", flat=True))
    visible = set(access.filter_for(user, rows).values_list("pk", flat=True))
    if visible - allowed:
        raise PermissionDenied(
            f"Replaying needs the operator role on the site of {sorted(map(str, visible - allowed))}."
        )
    return [pk for pk in dict.fromkeys(ids) if pk in allowed]


@router.get("/dead-letters", response={200: DeadLetterPage, **ERRORS_READ}, summary="Dead letters, newest first")
def list_dead_letters(request: ApiRequest, filters: Query[DeadLetterFilters], page: Query[PageParams]) -> dict:
    lookups = {"connection": "connection_id", "site": "connection__site_id", "error_kind": "error_kind"}
    queryset = filter_by(access.filter_for(request.auth, dead_letter_queryset()), filters, lookups)
    if filters.replayed is not None:
        queryset = queryset.filter(service.replayed_filter(filters.replayed))
    result = paginate(queryset.values(*FIELDS, "payload_head", "payload_size"), page.limit, page.offset)
    result["items"] = _render(result["items"])
    return result


@router.get("/dead-letters/{dead_letter_id}", response={200: DeadLetterOut, **ERRORS_READ}, summary="One dead letter")
def get_dead_letter(request: ApiRequest, dead_letter_id: uuid.UUID) -> dict:
    return _get(request.auth, dead_letter_id)


@router.get(
    "/dead-letters/{dead_letter_id}/payload", response={**ERRORS_READ}, summary="A dead letter's whole payload",
    openapi_extra={"responses": {"200": {
        "description": "The raw payload bytes, as received.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }}},
)  # fmt: skip
def get_dead_letter_payload(request: ApiRequest, dead_letter_id: uuid.UUID) -> HttpResponse:
    payload = (
        access.filter_for(request.auth, DeadLetter.objects.filter(pk=dead_letter_id))
        .values_list("payload", flat=True)
        .first()
    )
    if payload is None:
        raise ApiError(404, f"No dead letter with id {dead_letter_id}.")
    response = HttpResponse(bytes(payload), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="dead-letter-{dead_letter_id}.bin"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post(
    "/dead-letters/{dead_letter_id}/replay", response={200: ReplayResultOut, **ERRORS_WRITE},
    summary="Replay a dead letter (stored at most once, however often this is called)",
)  # fmt: skip
def replay_dead_letter(request: ApiRequest, dead_letter_id: uuid.UUID) -> dict:
    if not _replayable(request.auth, [dead_letter_id]):
        raise ApiError(404, f"No dead letter with id {dead_letter_id}.")
    (result,) = service.replay([dead_letter_id], request.auth, "api")
    if result.status == "not_found":
        raise ApiError(404, f"No dead letter with id {dead_letter_id}.")
    return result.as_dict()
