"""`GET /api/series?topic=&metric=` or `?series=TOPIC:METRIC&series=...`, `&since=&until=&points=`: chart buckets.

Each series answers `{"t", "min", "max", "avg", "count"}` per bucket (empty buckets left out), from the raw
readings for short ranges and from the minute or hour rollups for long ones (mqtt_app/history/series.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from mqtt_app import access
from mqtt_app.history import series as history
from mqtt_app.models import MqttTopic

from . import auth, timestamps
from .auth import ApiRequest
from .errors import field_error
from .schemas import ERRORS_READ, Out

router = Router(tags=["series"], auth=auth.readers())
MAX_POINTS = 2000
MAX_SERIES = 8
DEFAULT_RANGE = timedelta(hours=24)


class SeriesFilters(Schema):
    topic: int | None = Field(None, description="Topic id (with `metric`), or use `series`.")
    metric: str | None = Field(None, description="The metric of `topic`.")
    series: list[str] = Field(default_factory=list, description=f"TOPIC:METRIC, repeatable (at most {MAX_SERIES}).")
    since: timestamps.QueryTime = Field(
        None, description="Inclusive; ISO 8601 (no offset means UTC); default until - 24 h."
    )
    until: timestamps.QueryTime = Field(None, description="Exclusive; ISO 8601 (no offset means UTC); default now.")
    points: int = Field(500, ge=2, le=MAX_POINTS, description="Most buckets a series answers.")


class PointOut(Out):
    t: datetime = Field(description="Start of the bucket.")
    min: float
    max: float
    avg: float
    count: int


class SeriesOut(Out):
    topic: int
    metric: str
    points: list[PointOut]


class SeriesAnswer(Out):
    since: datetime = Field(description="Start of the first bucket (the range widened to whole buckets).")
    until: datetime = Field(description="End of the last bucket.")
    width: int = Field(description="Bucket width in seconds.")
    source: str = Field(description="raw, minute or hour: what the buckets were computed from.")
    series: list[SeriesOut]


def wanted(filters: SeriesFilters) -> list[tuple[int, str]]:
    """The (topic, metric) pairs asked for, in order, without repeats; 422 naming the parameter at fault."""
    pairs: list[tuple[int, str]] = []
    if filters.topic is not None or filters.metric is not None:
        if filters.topic is None:
            raise field_error("topic", "give the topic of `metric` (or use series=TOPIC:METRIC)")
        if not filters.metric:
            raise field_error("metric", "give the metric of `topic`")
        pairs.append((filters.topic, filters.metric))
    for item in filters.series:
        topic, _, metric = item.partition(":")
        if not topic.strip().isdigit() or not metric:
            raise field_error(
                "series", "each series is TOPIC:METRIC, a topic id and a metric name (e.g. 12:temperature)"
            )
        pairs.append((int(topic), metric))
    if not pairs:
        raise field_error("topic", "give topic and metric, or one or more series=TOPIC:METRIC")
    pairs = list(dict.fromkeys(pairs))
    if len(pairs) > MAX_SERIES:
        raise field_error("series", f"at most {MAX_SERIES} series in one request")
    return pairs


def time_range(filters: SeriesFilters) -> tuple[datetime, datetime]:
    until = filters.until or timezone.now()
    since = filters.since or until - DEFAULT_RANGE
    if since >= until:
        raise field_error("since", "must be before until")
    return since, until


@router.get("/series", response={200: SeriesAnswer, **ERRORS_READ}, summary="Chart buckets of one or more series")
def get_series(request: ApiRequest, filters: Query[SeriesFilters]) -> Any:
    pairs = wanted(filters)
    since, until = time_range(filters)
    topics = MqttTopic.objects.in_bulk({topic for topic, _ in pairs})
    for topic_id, _ in pairs:
        access.require(request.auth, topics.get(topic_id), access.VIEWER, "topic")
    plan = history.plan(since, until, filters.points)
    return {
        "since": plan.since, "until": plan.until, "width": plan.width, "source": plan.source,
        "series": [{"topic": t, "metric": m, "points": history.buckets(t, m, plan)} for t, m in pairs],
    }  # fmt: skip
