"""Re-parsing a topic's archived payloads (mqtt_app/ingest/reparse.py) and downloading them.

`POST /api/topics/{id}/reparse` `{"since", "until", "parser_name"?}` → 202 with the job; `GET /api/reparse-jobs/{id}`
follows it, `POST /api/reparse-jobs/{id}/cancel` stops it between chunks. `POST /api/topics/{id}/reparse/dry-run`
shows what a parser makes of the range's first archived payloads, writing nothing. `GET /api/topics/{id}/raw`
answers the archived payloads as JSON lines. Starting and cancelling need the operator role, like a parser change.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime

from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from mqtt_app import access
from mqtt_app.history.rollup import open_since
from mqtt_app.ingest import reparse as engine
from mqtt_app.models import MqttTopic, RawMessage, ReparseJob, ReparseState
from mqtt_app.services import audit

from . import auth, timestamps
from .auth import ApiRequest
from .errors import ApiError, field_error
from .registry import parser_names
from .schemas import ERRORS_READ, ERRORS_WRITE, ErrorOut, In, Out
from .writes import get_for

logger = logging.getLogger(__name__)
router = Router(tags=["re-parse"], auth=auth.readers())
DRY_RUN_MESSAGES = 200
DOWNLOAD_LIMIT = 100_000


class ReparseIn(In):
    since: datetime = Field(description="Inclusive; ISO 8601 (no offset means UTC).")
    until: datetime = Field(description="Exclusive.")
    parser_name: str = Field("", description="Another parser for this run; empty: the topic's own.")


class ReparseJobOut(Out):
    id: int
    topic: int
    since: datetime
    until: datetime
    parser_name: str
    state: ReparseState
    done: int = Field(description="Archived messages re-parsed so far.")
    total: int = Field(description="Archived messages in the range.")
    readings: int
    failures: int = Field(description="Messages the parser still cannot read.")
    error: str
    created_at: datetime
    finished_at: datetime | None


class DryRunError(Out):
    kind: str
    message: str
    location: str


class DryRunOut(Out):
    messages: int = Field(description="Archived payloads tried (the range's first ones).")
    readings: int
    failures: int
    errors: list[DryRunError] = Field(description="The first failures.")


class RawFilters(Schema):
    since: timestamps.QueryTime = Field(None, description="Inclusive; default: the archive's start.")
    until: timestamps.QueryTime = Field(None, description="Exclusive; default: now.")


def job_out(job: ReparseJob) -> dict:
    fields = ("id", "since", "until", "parser_name", "state", "done", "total", "readings", "failures", "error",
              "created_at", "finished_at")  # fmt: skip
    return {**{f: getattr(job, f) for f in fields}, "topic": job.topic_id}


def _range(payload: ReparseIn) -> tuple[datetime, datetime]:
    """The range asked for, its start no older than what re-parsing can reach: older readings are not kept for
    long (retention), and their chart buckets are closed (mqtt_app/history/rollup.py)."""
    since, until = timestamps.utc_if_naive(payload.since), timestamps.utc_if_naive(payload.until)
    if since is None or until is None or since >= until:
        raise field_error("until", "must be after since")
    floor = open_since(timezone.now())
    if until <= floor:
        raise field_error(
            "until", f"the range ends before {floor:%Y-%m-%d %H:%M} UTC, as far back as re-parsing reaches"
        )
    return max(since, floor), until


def _parser(topic: MqttTopic, name: str) -> str:
    name = name.strip() or topic.parser_name
    if not name:
        raise field_error("parser_name", "the topic has no parser: choose one")
    if name not in parser_names():
        raise field_error("parser_name", f"unknown parser {name!r} (known: {', '.join(sorted(parser_names()))})")
    if name in engine.STATEFUL:
        raise field_error("parser_name", f"{name} messages depend on earlier ones (births): no range stands alone")
    return name


@router.post(
    "/topics/{topic_id}/reparse", response={202: ReparseJobOut, **ERRORS_WRITE, 503: ErrorOut},
    summary="Re-parse a topic's archived payloads over a time range (a background job)",
)  # fmt: skip
def start_reparse(request: ApiRequest, topic_id: int, payload: ReparseIn) -> Status:
    topic = get_for(request.auth, MqttTopic.objects.select_related("connection"), topic_id, "topic", access.OPERATOR)
    since, until = _range(payload)
    parser = _parser(topic, payload.parser_name)
    running = ReparseJob.objects.filter(topic=topic, state__in=[ReparseState.QUEUED, ReparseState.RUNNING])
    if running.exists():
        raise ApiError(409, f"A re-parse of this topic is already {running.first().state}: cancel it or wait.")  # type: ignore[union-attr]
    job = ReparseJob.objects.create(topic=topic, since=since, until=until, parser_name=parser,
                                    requested_by=request.auth if request.auth.is_authenticated else None)  # fmt: skip
    transaction.on_commit(lambda: _enqueue(job))
    audit.record(request.auth, "topic.reparse", site_id=topic.connection.site_id, connection_id=topic.connection_id,
                 target=f"{topic.connection} / {topic.topic}",
                 changes={"since": since.isoformat(), "until": until.isoformat(), "parser_name": parser})  # fmt: skip
    logger.info("re-parse job %s of topic %s started by %s", job.pk, topic.pk, request.auth)
    return Status(202, job_out(job))


def _enqueue(job: ReparseJob) -> None:
    """The job's task into the queue; a queue that cannot take it fails the job at once (503), rather than
    leaving it queued for ever (a queued job blocks the next one)."""
    from tasks.reparse import reparse_topic

    try:
        reparse_topic.apply_async(args=(job.pk,), retry=False)
    except Exception as exc:  # noqa: BLE001 - kombu raises several types for a broker away
        logger.warning("re-parse job %s not queued: %s", job.pk, exc)
        ReparseJob.objects.filter(pk=job.pk).update(state=ReparseState.FAILED, finished_at=timezone.now(),
                                                     error=f"not queued: {type(exc).__name__}")  # fmt: skip
        raise ApiError(503, "The task queue cannot be reached: the re-parse was not started. Try again.") from exc


@router.post(
    "/topics/{topic_id}/reparse/dry-run", response={200: DryRunOut, **ERRORS_WRITE},
    summary="What a parser makes of a range's first archived payloads (nothing written)",
)  # fmt: skip
def dry_run(request: ApiRequest, topic_id: int, payload: ReparseIn) -> dict:
    topic = get_for(request.auth, MqttTopic.objects.all(), topic_id, "topic", access.OPERATOR)
    since, until = _range(payload)
    return engine.dry_run(topic, _parser(topic, payload.parser_name), since, until, DRY_RUN_MESSAGES)


def _job_for(request: ApiRequest, job_id: int, role: str) -> ReparseJob:
    job = ReparseJob.objects.filter(pk=job_id).first()
    if job is None:
        raise ApiError(404, f"No re-parse job with id {job_id}.")
    get_for(request.auth, MqttTopic.objects.all(), job.topic_id, "re-parse job", role)  # 404 for another site's
    return job


@router.get("/reparse-jobs/{job_id}", response={200: ReparseJobOut, **ERRORS_READ}, summary="One re-parse job")
def get_job(request: ApiRequest, job_id: int) -> dict:
    return job_out(_job_for(request, job_id, access.VIEWER))


@router.get(
    "/topics/{topic_id}/reparse-jobs", response={200: list[ReparseJobOut], **ERRORS_READ},
    summary="A topic's latest re-parse jobs (newest first, at most 20)",
)  # fmt: skip
def topic_jobs(request: ApiRequest, topic_id: int) -> list[dict]:
    topic = get_for(request.auth, MqttTopic.objects.all(), topic_id, "topic")
    return [job_out(job) for job in ReparseJob.objects.filter(topic=topic)[:20]]


@router.post(
    "/reparse-jobs/{job_id}/cancel", response={200: ReparseJobOut, **ERRORS_WRITE},
    summary="Cancel a re-parse job (it stops after the chunk in progress)",
)  # fmt: skip
def cancel_job(request: ApiRequest, job_id: int) -> dict:
    job = _job_for(request, job_id, access.OPERATOR)
    ReparseJob.objects.filter(pk=job.pk, state__in=[ReparseState.QUEUED, ReparseState.RUNNING]).update(
        state=ReparseState.CANCELLED
    )
    job.refresh_from_db()
    return job_out(job)


@router.get(
    "/topics/{topic_id}/raw", response={200: None, **ERRORS_READ},
    summary="Archived raw payloads as JSON lines (payload as text when UTF-8, else payload_base64)",
)  # fmt: skip
def download_raw(request: ApiRequest, topic_id: int, filters: Query[RawFilters]) -> StreamingHttpResponse:
    topic = get_for(request.auth, MqttTopic.objects.all(), topic_id, "topic")
    archived = RawMessage.objects.filter(topic=topic)
    if filters.since:
        archived = archived.filter(received_at__gte=filters.since)
    if filters.until:
        archived = archived.filter(received_at__lt=filters.until)
    rows = archived.order_by("received_at", "id").values_list("received_at", "qos", "retain", "payload")
    lines = _lines(rows[:DOWNLOAD_LIMIT].iterator(chunk_size=1000))
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="topic-{topic.pk}-raw.jsonl"'
    return response


def _lines(rows: Iterator[tuple]) -> Iterator[str]:
    for at, qos, retain, payload in rows:
        line: dict = {"received_at": at.isoformat(), "qos": qos, "retain": retain}
        raw = bytes(payload)
        try:
            line["payload"] = raw.decode()
        except UnicodeDecodeError:
            line["payload_base64"] = base64.b64encode(raw).decode()
        yield json.dumps(line) + "\n"
