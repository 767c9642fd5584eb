"""Discovered topics: `GET /api/topics?connection=&search=`, `PATCH /api/topics/{id}` (parser, is_processable).

A person choosing a parser (which also makes the topic processable) or turning processing on/off locks the
topic (`parser_locked`), so automatic detection no longer overrides the choice; clearing the parser (`""`)
hands the topic back to detection.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.models import MqttTopic
from mqtt_app.services import audit

from . import auth
from .auth import ApiRequest
from .errors import field_error
from .pagination import PageParams, filter_by, page_of, paginate
from .registry import parser_names
from .schemas import ERRORS_READ, ERRORS_WRITE, In, Out
from .writes import get_for, save_validated

logger = logging.getLogger(__name__)
router = Router(tags=["topics"], auth=auth.readers())


class TopicOut(Out):
    id: int
    connection: int
    topic: str
    is_processable: bool
    parser_name: str = Field(description="Parser in use; empty means automatic / none.")
    parser_locked: bool = Field(description="Chosen by a person: automatic detection leaves it alone.")
    first_seen_at: datetime
    last_seen_at: datetime
    message_count: int
    error_count: int
    last_payload: str = Field(description="Sample of the last payload (truncated; undecodable bytes replaced).")
    last_payload_size: int
    last_qos: int
    retained: bool
    keep_raw_days: int | None = Field(description="Days raw payloads are archived; null: the connection's setting.")


class TopicPatch(In):
    parser_name: str | None = Field(None, description="A registered parser, or '' for automatic.")
    is_processable: bool | None = None
    parser_locked: bool | None = Field(None, description="Set explicitly; otherwise derived from the change.")
    keep_raw_days: int | None = Field(None, description="Archive raw payloads this many days (0: off; null: the "
                                      "connection's setting).")  # fmt: skip


class TopicFilters(Schema):
    connection: int | None = None
    search: str | None = Field(None, description="Part of the topic name.")


TopicPage = page_of(TopicOut, "TopicPage")
AUDIT_FIELDS = ("parser_name", "is_processable", "parser_locked", "keep_raw_days")


def topic_out(t: MqttTopic) -> dict[str, Any]:
    return {
        "id": t.pk, "connection": t.connection_id, "topic": t.topic, "is_processable": t.is_processable,
        "parser_name": t.parser_name, "parser_locked": t.parser_locked, "first_seen_at": t.first_seen_at,
        "last_seen_at": t.last_seen_at, "message_count": t.message_count, "error_count": t.error_count,
        "last_payload": t.last_payload_text, "last_payload_size": t.last_payload_size, "last_qos": t.last_qos,
        "retained": t.retained, "keep_raw_days": t.keep_raw_days,
    }  # fmt: skip


@router.get("/topics", response={200: TopicPage, **ERRORS_READ}, summary="Discovered topics")
def list_topics(request: ApiRequest, filters: Query[TopicFilters], page: Query[PageParams]) -> dict:
    lookups = {"connection": "connection_id", "search": "topic__icontains"}
    queryset = filter_by(access.filter_for(request.auth, MqttTopic.objects.order_by("connection_id", "topic")), filters,
                         lookups)  # fmt: skip
    return paginate(queryset, page.limit, page.offset, topic_out)


@router.get("/topics/{topic_id}", response={200: TopicOut, **ERRORS_READ}, summary="One topic")
def get_topic(request: ApiRequest, topic_id: int) -> dict:
    return topic_out(get_for(request.auth, MqttTopic.objects.all(), topic_id, "topic"))


@router.patch(
    "/topics/{topic_id}", response={200: TopicOut, **ERRORS_WRITE},
    summary="Set a topic's parser and/or is_processable",
)  # fmt: skip
def patch_topic(request: ApiRequest, topic_id: int, payload: TopicPatch) -> dict:
    topic = get_for(request.auth, MqttTopic.objects.select_related("connection__site"), topic_id, "topic",
                    access.OPERATOR)  # fmt: skip
    data = payload.model_dump(exclude_unset=True)
    before = audit.snapshot(topic, AUDIT_FIELDS)
    for field, value in data.items():
        if value is None and field != "keep_raw_days":
            raise field_error(field, "must not be null")
    if "parser_name" in data:
        _set_parser(topic, data["parser_name"].strip())
    if "is_processable" in data:
        topic.is_processable = data["is_processable"]
        topic.parser_locked = True
    if "parser_locked" in data:
        topic.parser_locked = data["parser_locked"]
    if "keep_raw_days" in data:
        topic.keep_raw_days = data["keep_raw_days"]
    save_validated(topic)
    changes = audit.diff(before, audit.snapshot(topic, AUDIT_FIELDS))
    if changes:
        audit.record(request.auth, "topic.change", site_id=topic.connection.site_id, connection_id=topic.connection_id,
                     target=f"{topic.connection} / {topic.topic}", changes=changes)  # fmt: skip
    logger.info("topic %s changed by %s: %s", topic.pk, request.auth, ", ".join(sorted(data)))
    return topic_out(topic)


def _set_parser(topic: MqttTopic, name: str) -> None:
    if name and name not in parser_names():
        known = ", ".join(sorted(parser_names()))
        raise field_error("parser_name", f"unknown parser {name!r} (known: {known})")
    topic.parser_name = name
    topic.parser_locked = bool(name)
    if name:
        # Choosing a parser means "parse this"; an explicit is_processable in the same request still wins.
        topic.is_processable = True
