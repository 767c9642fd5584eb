"""The read endpoints of the API on a large readings table: a kept dataset and the requests timed on it.

The dataset is one site (`bench-api-history`) of 4 connections with 250 topics each and N readings spread evenly
over the last 30 days, in arrival order (like ingestion writes them). Filling tens of millions of rows takes
minutes, so it is kept between runs and extended only when a run asks for more; `--drop-history` removes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.db import connection as db
from django.utils import timezone

from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading

SITE_NAME = "bench-api-history"
CONNECTIONS, TOPICS_EACH = 4, 250
SPAN = timedelta(days=30)
CHUNK = 1_000_000
METRICS = ("temperature", "humidity", "power")

# One chunk of readings: row i of the dataset goes to topic i % T, at a time that grows with i.
INSERT = """
INSERT INTO mqtt_telemetryreading
    (connection_id, topic_id, device, metric, value_type, value, text_value, unit, timestamp, received_at)
SELECT c.conns[1 + i %% c.n], c.topics[1 + i %% c.n], 'dev-' || (i %% c.n) / 10, c.metrics[1 + (i / c.n) %% 3],
       'number', (i %% 1000) / 10.0, '', 'C', c.start + (i * c.step) * interval '1 microsecond',
       c.start + (i * c.step) * interval '1 microsecond'
FROM (SELECT %s::bigint[] AS conns, %s::bigint[] AS topics, %s::text[] AS metrics, %s::int AS n,
             %s::timestamptz AS start, %s::float8 AS step) AS c,
     generate_series(%s::bigint, %s::bigint) AS i
"""


def dataset(readings: int, say: Callable[[str], None]) -> Site:
    """The kept site, with at least `readings` readings (PostgreSQL only: filled with generate_series)."""
    if db.vendor != "postgresql":
        raise RuntimeError("--readings needs PostgreSQL (DATABASE_URL=postgres://...)")
    site, created = Site.objects.get_or_create(name=SITE_NAME, defaults={"description": "mqtt_bench_api's data"})
    if created:
        _topics(site)
    topics = list(MqttTopic.objects.filter(connection__site=site).order_by("pk").values_list("pk", "connection_id"))
    have = TelemetryReading.objects.filter(connection_id__in={c for _, c in topics}).count()
    if have < readings:
        _fill(topics, have, readings, say)
    say(f"dataset: {readings:,} readings wanted, {max(have, readings):,} kept in site {site.pk}")
    return site


def _topics(site: Site) -> None:
    now = timezone.now()
    for c in range(CONNECTIONS):
        connection = MqttConnection.objects.create(
            site=site, name=f"history {c}", host="127.0.0.1", port=1, is_active=False
        )
        MqttTopic.objects.bulk_create(
            MqttTopic(connection=connection, topic=f"plant/{c}/sensor/{t}", is_processable=True,
                      first_seen_at=now - SPAN, last_seen_at=now)
            for t in range(TOPICS_EACH)
        )  # fmt: skip


def _fill(topics: list[tuple[int, int]], have: int, readings: int, say: Callable[[str], None]) -> None:
    """Rows have..readings-1 of the dataset, in chunks (each its own transaction), timed."""
    start = timezone.now() - SPAN
    step = SPAN.total_seconds() * 1_000_000 / readings  # microseconds between consecutive rows
    args = [[c for _, c in topics], [t for t, _ in topics], list(METRICS), len(topics), start, step]
    began = time.perf_counter()
    for first in range(have, readings, CHUNK):
        last = min(first + CHUNK, readings) - 1
        with db.cursor() as cursor:
            cursor.execute(INSERT, [*args, first, last])
        done = last + 1 - have
        rate = done / (time.perf_counter() - began)
        say(f"  filled {last + 1:,} of {readings:,} ({rate:,.0f} rows/s)")
    with db.cursor() as cursor:
        cursor.execute("ANALYZE mqtt_telemetryreading")
    say(f"filled {readings - have:,} readings in {time.perf_counter() - began:.0f} s")


def drop(say: Callable[[str], None]) -> None:
    for site in Site.objects.filter(name=SITE_NAME):
        site.delete()  # cascades to connections, topics and their readings
        say(f"removed site {site.pk} and its readings")


def cases(site: Site) -> dict[str, str]:
    """The reads an operator's tools send, by label: every one must stay fast however big the table is."""
    conns = list(MqttConnection.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
    topic = MqttTopic.objects.filter(connection_id=conns[0]).order_by("pk").first()
    assert topic is not None
    middle = (timezone.now() - SPAN / 2).strftime("%Y-%m-%dT%H:%M:%SZ")
    hour_ago = (timezone.now() - SPAN / 2 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "readings of a topic, newest 100": f"/api/readings?topic={topic.pk}",
        "readings of a topic and metric, newest 100": f"/api/readings?topic={topic.pk}&metric=humidity",
        "readings of a topic, deepest offset (10,000)": f"/api/readings?topic={topic.pk}&offset=10000",
        "readings of a topic, 15 days back (until=)": f"/api/readings?topic={topic.pk}&until={middle}",
        "readings of a connection (250 topics), newest 100": f"/api/readings?connection={conns[0]}",
        "readings of a connection, one hour 15 days back": (
            f"/api/readings?connection={conns[0]}&since={hour_ago}&until={middle}"
        ),
        "readings of a site (1,000 topics), newest 100": f"/api/readings?site={site.pk}",
        "readings of a site, 15 days back (until=)": f"/api/readings?site={site.pk}&until={middle}",
        "CSV export of a topic, 1,000 rows": f"/api/readings?topic={topic.pk}&format=csv&limit=1000",
        "topics of a connection, default page": f"/api/topics?connection={conns[0]}",
        "one topic": f"/api/topics/{topic.pk}",
        "parse errors of a connection": f"/api/parsing-errors?connection={conns[0]}",
        "audit trail of a site": f"/api/audit?site={site.pk}",
        "health report": "/api/health",
    }
