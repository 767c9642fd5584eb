"""The parser registry: `GET /api/parsers` (each with its payload's JSON schema) and a dry run,
`POST /api/parsers/{name}/test`, which parses a payload and stores nothing."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.utils import timezone
from ninja import Field, Router

from mqtt_app import access
from mqtt_app.models import MqttTopic

from . import auth
from .auth import ApiRequest
from .errors import field_error
from .registry import get_registry, require_parser
from .schemas import ERRORS_READ, ERRORS_WRITE, In, Out

router = Router(tags=["parsers"], auth=auth.readers())


class ParserOut(Out):
    name: str
    description: str
    topic_filters: list[str] = Field(description="Topic filters it claims by default.")
    payload_format: str = Field(description="What it reads: 'json', 'text' or 'protobuf'.")
    source: str = Field(description="Where it was registered from: built-in, a setting, or an entry point.")
    payload_schema: dict[str, Any] = Field(description="JSON schema of the payload it accepts.")


class ParserTestIn(In):
    topic: str | None = Field(None, description="Topic name the payload arrived on.")
    payload: str | None = Field(None, description="The payload as text (UTF-8).")
    payload_base64: str | None = Field(None, description="Or the raw payload bytes, base64-encoded.")
    topic_id: int | None = Field(
        None, description="Or a discovered topic: its name and last payload sample (truncated samples may fail)."
    )


class ReadingPreviewOut(Out):
    device: str
    metric: str
    value: float | bool | str | None
    unit: str
    timestamp: datetime


class FailureOut(Out):
    kind: str = Field(description="decode, empty, json, validation, too_large, parser_exception, unknown_parser")
    message: str
    location: str
    errors: list[dict[str, Any]] = Field(description="Pydantic errors: loc, msg, type.")


class ParserTestOut(Out):
    parser: str
    topic: str
    ok: bool = Field(description="True: `readings` is what would be stored. False: see `error`.")
    readings: list[ReadingPreviewOut]
    error: FailureOut | None


@router.get("/parsers", response={200: list[ParserOut], **ERRORS_READ}, summary="Registered parsers")
def list_parsers(request: ApiRequest) -> list[dict]:
    return [{**entry, "payload_schema": entry["schema"]} for entry in get_registry().describe()]


def _input(user: Any, payload: ParserTestIn) -> tuple[str, bytes]:  # noqa: ANN401
    """The (topic, payload bytes) to parse, from the request or from a discovered topic."""
    topic, raw = payload.topic, None
    if payload.topic_id is not None:
        row = (
            access.filter_for(user, MqttTopic.objects.filter(pk=payload.topic_id)).only("topic", "last_payload").first()
        )
        if row is None:
            raise field_error("topic_id", f"no topic with id {payload.topic_id}")
        topic, raw = topic or row.topic, bytes(row.last_payload)
    if payload.payload_base64 is not None:
        try:
            raw = base64.b64decode(payload.payload_base64, validate=True)
        except (binascii.Error, ValueError):
            raise field_error("payload_base64", "not valid base64") from None
    elif payload.payload is not None:
        raw = payload.payload.encode("utf-8")
    if not topic:
        raise field_error("topic", "give a topic (or a topic_id)")
    if raw is None:
        raise field_error("payload", "give a payload, payload_base64 or topic_id")
    return topic, raw


@router.post(
    "/parsers/{name}/test", response={200: ParserTestOut, **ERRORS_WRITE},
    summary="Dry run: the readings a parser would produce (nothing is stored)",
)  # fmt: skip
def test_parser(request: ApiRequest, name: str, payload: ParserTestIn) -> dict:
    from mqtt_app.parsers import ParseFailure

    require_parser(name)
    topic, raw = _input(request.auth, payload)
    received_at = timezone.now()
    try:
        readings = get_registry().run(name, topic, raw, received_at)
    except ParseFailure as failure:
        error = {
            "kind": str(failure.kind), "message": failure.message, "location": failure.location or "",
            "errors": list(failure.errors or []),
        }  # fmt: skip
        return {"parser": name, "topic": topic, "ok": False, "readings": [], "error": error}
    previews = [
        {"device": r.device, "metric": r.metric, "value": r.value, "unit": r.unit or "",
         "timestamp": r.timestamp or received_at}
        for r in readings
    ]  # fmt: skip
    return {"parser": name, "topic": topic, "ok": True, "readings": previews, "error": None}
