"""Long-range history: fill a busy topic with N readings over 30 days, roll them up, and time series requests.
Prints figures; not a test. PostgreSQL only (the readings are made by generate_series).

    .venv/bin/python -m bench.history [--readings 3000000] [--requests 200] [--keep]

It uses the database of DATABASE_URL (migrated), under a site of its own that it deletes at the end unless
--keep. Steps, each timed: insert the readings (three metrics, spread evenly over 30 days); the first roll-up
(every bucket from raw rows); an incremental roll-up after one more minute of readings; then series requests
through the API's handler (Django's test client, a superuser's session): 30-day and 24-hour charts of one metric
and of three in one call, and a 1-hour chart (raw rows), each `--requests` times; p50 and p99 in milliseconds.
With `--browser N`, the topic page's 24 h and 30 d charts drawn N times each in headless Chromium
(bench/history_browser.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METRICS = ("temperature", "humidity", "pressure")
DAYS = 30


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def timed(label: str, work: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - started:.1f} s")
    return result


def fill(topic_id: int, connection_id: int, readings: int, seconds: int = DAYS * 86400) -> None:
    """`readings` rows, the three metrics in turn, evenly over the last `seconds`, device time = receive time."""
    from django.db import connection

    from mqtt_app.models import TelemetryReading

    table = connection.ops.quote_name(TelemetryReading._meta.db_table)
    step = seconds / readings
    metrics = "ARRAY[" + ",".join(f"'{m}'" for m in METRICS) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (connection_id, topic_id, device, metric, value_type, value, text_value, unit, "  # noqa: S608 - our table, numbers
            f"timestamp, received_at) SELECT %s, %s, '', ({metrics})[1 + i %% 3], 'number', "
            "20 + 10 * sin(i / 5000.0) + (i %% 7), '', '', t, t FROM ("
            "SELECT i, now() - make_interval(secs => (%s - i) * %s) AS t FROM generate_series(1, %s) AS i) AS g",
            [connection_id, topic_id, readings, step, readings],
        )
        # What autovacuum does on a table that only grows: the BRIN index on received_at summarises the new pages.
        cursor.execute("SELECT brin_summarize_new_values('mqtt_reading_received')")
        cursor.execute(f"ANALYZE {table}")


def p50_p99(runs: int, request: Callable[[], object]) -> tuple[float, float]:
    """Milliseconds: the median and 99th percentile of `runs` calls, after one that warms the caches."""
    request()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        request()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def percentiles(label: str, runs: int, request: Callable[[], object]) -> None:
    p50, p99 = p50_p99(runs, request)
    print(f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({runs} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=3_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the bench site and its readings")
    parser.add_argument("--browser", type=int, default=0, metavar="N",
                        help="also time N draws of the 24 h and 30 d charts in headless Chromium")  # fmt: skip
    args = parser.parse_args()
    _setup_django()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from mqtt_app.history.rollup import roll_up
    from mqtt_app.models import MqttConnection, MqttTopic, RollupState, SeriesRollup, Site, TelemetryReading

    if connection.vendor != "postgresql":
        sys.exit("bench.history needs PostgreSQL (DATABASE_URL): the readings are made by generate_series")
    now = timezone.now()
    site = Site.objects.create(name=f"bench-history-{int(now.timestamp())}")
    conn = MqttConnection.objects.create(site=site, name="bench", host="127.0.0.1", port=1883)
    topic = MqttTopic.objects.create(connection=conn, topic="bench/busy", first_seen_at=now, last_seen_at=now)
    user, _ = get_user_model().objects.get_or_create(username="bench-history", defaults={"is_superuser": True})
    password = f"bench-{now.timestamp()}"
    user.set_password(password)
    user.save()
    client = Client(HTTP_HOST="localhost")  # one of DEBUG's ALLOWED_HOSTS
    client.force_login(user)
    try:
        print(f"{args.readings:,} readings of one topic ({len(METRICS)} metrics) over {DAYS} days")
        timed("insert", lambda: fill(topic.pk, conn.pk, args.readings))
        RollupState.objects.all().delete()  # the first run builds every bucket from the raw rows
        timed("first roll-up (every bucket)", roll_up)
        minutes = SeriesRollup.objects.filter(topic=topic, width=60).count()
        hours = SeriesRollup.objects.filter(topic=topic, width=3600).count()
        print(f"rollup rows: {minutes:,} minutes, {hours:,} hours")
        fill(topic.pk, conn.pk, 180, seconds=60)  # the next minute of a busy topic: 1 message (3 readings) a second
        timed("incremental roll-up", roll_up)
        until = timezone.now()
        month = {"since": (until - timedelta(days=DAYS)).isoformat(), "until": until.isoformat()}
        day = {"since": (until - timedelta(hours=24)).isoformat(), "until": until.isoformat()}
        hour = {"since": (until - timedelta(hours=1)).isoformat(), "until": until.isoformat()}
        one = {"topic": topic.pk, "metric": METRICS[0]}
        three = {"series": [f"{topic.pk}:{m}" for m in METRICS]}
        for label, query in (("30-day series, 1 metric", {**one, **month}),
                             ("30-day series, 3 metrics", {**three, **month}),
                             ("24-hour series, 1 metric", {**one, **day}),
                             ("24-hour series, 3 metrics", {**three, **day}),
                             ("1-hour series, 3 metrics", {**three, **hour})):  # fmt: skip
            answer = client.get("/api/series", query)
            assert answer.status_code == 200, answer.content
            body = answer.json()
            print(f"{label}: {body['source']} source, width {body['width']} s, "
                  f"{sum(len(s['points']) for s in body['series'])} points")  # fmt: skip
            percentiles(f"  {label}", args.requests, lambda q=query: client.get("/api/series", q))
        if args.browser:
            from bench.history_browser import chart_draw_times, report

            report(chart_draw_times(topic.pk, user.username, password, args.browser))
    finally:
        if not args.keep:
            timed("clean-up", lambda: (TelemetryReading.objects.filter(topic=topic).delete(), site.delete()))


if __name__ == "__main__":
    main()
