"""The roll-up keeps per-minute and per-hour aggregates equal to the raw readings, and stays so when it runs
twice, when readings arrive late or out of order, and when retention deletes raw rows."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.history.rollup import open_since, roll_up
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import SeriesRollup, TelemetryReading, ValueType
from mqtt_app.models.rollups import HOUR, MINUTE
from tests.history.readings import add, expected, hours_ago, minute

# Each write commits on its own, as ingestion's do: a run must never see rows its own transaction wrote before.
pytestmark = pytest.mark.django_db(transaction=True)


def stored(topic, metric: str, width: int) -> dict:  # noqa: ANN001
    rows = SeriesRollup.objects.filter(topic=topic, metric=metric, width=width)
    return {r.start: (r.min, r.max, r.sum, r.count) for r in rows}


def assert_matches_raw(topic, metric: str) -> None:  # noqa: ANN001
    far, near = timezone.now() - timedelta(days=400), timezone.now() + timedelta(days=1)
    for width in (MINUTE, HOUR):
        want = expected(topic, metric, width, far, near)
        got = stored(topic, metric, width)
        assert got.keys() == want.keys()
        for start, (lo, hi, total, count) in want.items():
            assert got[start][0] == lo and got[start][1] == hi and got[start][3] == count
            assert got[start][2] == pytest.approx(total)


def test_rollups_of_minutes_and_hours_equal_the_raw_readings(topic):
    rng = random.Random(7)
    start = hours_ago(50)
    add(
        topic, "temp", [(start + timedelta(seconds=rng.randrange(50 * 3600)), rng.uniform(-5, 40)) for _ in range(3000)]
    )
    add(topic, "hum", [(start + timedelta(seconds=17 * i), float(i % 90)) for i in range(500)])

    roll_up()

    assert_matches_raw(topic, "temp")
    assert_matches_raw(topic, "hum")
    assert sum(r.count for r in SeriesRollup.objects.filter(width=HOUR, metric="temp")) == 3000


def test_the_first_run_counts_a_minute_whose_readings_arrived_days_apart(topic):
    # The first run aggregates a day of arrivals at a time and merges the chunks' minutes.
    at = hours_ago(80)
    for hours, value in ((79, 1.0), (50, 7.0), (2, 4.0)):
        add(topic, "temp", [(at, value)], received=hours_ago(hours))

    roll_up()

    assert stored(topic, "temp", MINUTE) == {minute(at): (1.0, 7.0, 12.0, 3)}
    assert_matches_raw(topic, "temp")


def test_the_first_run_replaces_the_buckets_it_has_readings_for_and_keeps_the_others(topic):
    # A reset state over existing rollups: buckets whose raw rows retention took stay as they were.
    kept = minute(hours_ago(400))
    SeriesRollup.objects.create(topic=topic, metric="temp", width=MINUTE, start=kept, min=1, max=2, sum=3, count=2)
    at = minute(hours_ago(3))
    SeriesRollup.objects.create(topic=topic, metric="temp", width=MINUTE, start=at, min=0, max=99, sum=99, count=9)
    add(topic, "temp", [(at, 5.0)])

    roll_up()

    assert stored(topic, "temp", MINUTE) == {kept: (1.0, 2.0, 3.0, 2), at: (5.0, 5.0, 5.0, 1)}
    assert stored(topic, "temp", HOUR)[at.replace(minute=0)] == (5.0, 5.0, 5.0, 1)


def test_text_and_boolean_readings_are_not_rolled_up(topic):
    add(topic, "state", [(hours_ago(1), 1.0)], value_type=ValueType.BOOLEAN)
    add(topic, "note", [(hours_ago(1), None)], value_type=ValueType.TEXT)

    roll_up()

    assert not SeriesRollup.objects.exists()


def test_running_the_roll_up_twice_changes_nothing(topic):
    add(topic, "temp", [(hours_ago(3) + timedelta(seconds=7 * i), float(i)) for i in range(2000)])
    roll_up()
    first = stored(topic, "temp", MINUTE), stored(topic, "temp", HOUR)

    roll_up()
    roll_up()

    assert (stored(topic, "temp", MINUTE), stored(topic, "temp", HOUR)) == first
    assert_matches_raw(topic, "temp")


def test_a_late_reading_into_an_already_rolled_bucket_is_counted(topic):
    old = hours_ago(20)
    add(topic, "temp", [(old + timedelta(seconds=i), 10.0) for i in range(30)])
    add(topic, "temp", [(hours_ago(0.5), 11.0)])
    roll_up()

    # Device time 20 hours ago, received now: the minute and the hour it falls in were rolled up already.
    add(topic, "temp", [(old + timedelta(seconds=45), 99.0)], received=timezone.now())
    roll_up()

    assert stored(topic, "temp", MINUTE)[minute(old)] == (10.0, 99.0, 399.0, 31)
    assert_matches_raw(topic, "temp")


def test_rollups_survive_retention_of_the_raw_rows_and_a_late_reading_is_added_once(topic, settings):
    settings.MQTT_READING_RETENTION_DAYS = 30
    long_ago = minute(open_since(timezone.now())) - timedelta(days=2)  # a closed bucket
    add(topic, "temp", [(long_ago + timedelta(seconds=i), 5.0) for i in range(10)],
        received=timezone.now() - timedelta(days=40))  # fmt: skip
    roll_up()
    before = stored(topic, "temp", MINUTE)[long_ago]

    apply_retention()
    assert not TelemetryReading.objects.exists()
    roll_up()
    assert stored(topic, "temp", MINUTE)[long_ago] == before == (5.0, 5.0, 50.0, 10)

    # A reading of that bucket arrives now (a device that kept it a month): added to what retention deleted.
    add(topic, "temp", [(long_ago + timedelta(seconds=30), 1.0)], received=timezone.now())
    roll_up()
    roll_up()
    assert stored(topic, "temp", MINUTE)[long_ago] == (1.0, 5.0, 51.0, 11)
    hour = long_ago.replace(minute=0)
    assert stored(topic, "temp", HOUR)[hour] == (1.0, 5.0, 51.0, 11)


def test_rollups_keep_their_own_retention(topic, settings):
    settings.MQTT_ROLLUP_MINUTE_RETENTION_DAYS = 2
    settings.MQTT_ROLLUP_HOUR_RETENTION_DAYS = 10
    add(topic, "temp", [(hours_ago(24 * 5), 1.0), (hours_ago(24 * 20), 2.0), (hours_ago(1), 3.0)])
    roll_up()

    deleted = apply_retention()

    assert deleted["SeriesRollup"] == 3  # two minutes, one hour
    assert sorted(r.sum for r in SeriesRollup.objects.filter(width=MINUTE)) == [3.0]
    assert sorted(r.sum for r in SeriesRollup.objects.filter(width=HOUR)) == [1.0, 3.0]


def test_deleting_a_topic_deletes_its_rollups(topic):
    add(topic, "temp", [(hours_ago(1), 1.0)])
    roll_up()
    assert SeriesRollup.objects.filter(topic=topic).exists()

    topic.delete()

    assert not SeriesRollup.objects.exists()
