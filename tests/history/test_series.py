"""A series answers the same buckets from every source (raw rows, minute and hour rollups) as an aggregation of the
raw readings done in Python."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.history import series
from mqtt_app.history.rollup import roll_up
from tests.history.readings import add, expected

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled(topic):
    rng = random.Random(3)
    now = timezone.now()
    add(topic, "temp", [(now - timedelta(seconds=rng.randrange(40 * 86400)), rng.uniform(0, 100)) for _ in range(4000)])
    add(topic, "temp", [(now - timedelta(seconds=3 * i), rng.uniform(0, 100)) for i in range(1200)])  # the last hour
    add(topic, "other", [(now - timedelta(minutes=i), 1.0) for i in range(100)])
    roll_up()
    return topic


def assert_same_as_raw(topic, metric: str, plan: series.Plan) -> None:  # noqa: ANN001
    want = expected(topic, metric, plan.width, plan.since, plan.until)
    got = series.buckets(topic.id, metric, plan)
    assert [p["t"] for p in got] == sorted(want)
    for point in got:
        lo, hi, total, count = want[point["t"]]
        assert (point["min"], point["max"], point["count"]) == (lo, hi, count)
        assert point["avg"] == pytest.approx(total / count)


@pytest.mark.parametrize(
    ("span", "points", "source"),
    [
        (timedelta(hours=1), 500, series.RAW),
        (timedelta(hours=24), 500, series.MINUTES),
        (timedelta(days=7), 2000, series.MINUTES),
        (timedelta(days=30), 500, series.HOURS),
    ],
)
def test_every_source_answers_the_buckets_of_the_raw_readings(filled, span, points, source):
    until = timezone.now()
    plan = series.plan(until - span, until, points)

    assert plan.source == source
    assert (plan.until - plan.since).total_seconds() / plan.width <= points
    assert_same_as_raw(filled, "temp", plan)


def test_a_range_past_raw_retention_is_answered_from_rollups(filled, settings):
    settings.MQTT_READING_RETENTION_DAYS = 2
    until = timezone.now() - timedelta(days=10)
    plan = series.plan(until - timedelta(hours=1), until, 500)

    assert plan.source == series.MINUTES and plan.width == 60
    assert_same_as_raw(filled, "temp", plan)


def test_buckets_are_aligned_to_the_width_and_cover_the_range():
    since = timezone.now() - timedelta(days=30, seconds=17)
    plan = series.plan(since, since + timedelta(days=30), 500)

    assert plan.width % 3600 == 0
    assert plan.since.timestamp() % plan.width == 0 and plan.until.timestamp() % plan.width == 0
    assert plan.since <= since and plan.until >= since + timedelta(days=30)
