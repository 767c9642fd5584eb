"""`manage.py mqtt_bench_history --readings N`: the stored history at scale, in one run (PostgreSQL only).

Fills N readings over the last `--days` days, one dated partition a day: a busy topic (three metrics, one message
a second) and `--topics` others sharing the rest. Then prints, each measured on that table:
- the fill's time and rows a second, and the bytes a reading takes, indexes included;
- the first roll-up (every bucket from the raw rows) and an incremental one;
- the compaction of the closed partitions into blocks, and the bytes a reading takes after it;
- 30-day and 24-hour series of the busy topic through the API (`/api/series`), p50 and p99;
- a 24-hour raw CSV export of the busy topic (`/api/readings?format=csv`), rows a second, of the last day (rows)
  and of a compacted one; an 8-hour series of a compacted day (raw readings from blocks) and the newest page;
- retention removing the oldest day (its partition dropped);
- with `--ingest`, `mqtt_bench` max-10 stored msg/s on this database and on an empty scratch one (dropped and
  created again: its name ends in `_bench_empty`), and their ratio.
Everything it creates goes at the end unless `--keep`. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection as db
from django.test import Client, override_settings
from django.utils import timezone

from bench.history import p50_p99
from mqtt_app.history import compaction
from mqtt_app.history.rollup import roll_up
from mqtt_app.ingest import partitions
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.management.migrated import require_migrated
from mqtt_app.models import MqttConnection, MqttTopic, RollupState, Site, TelemetryReading

ROOT = Path(__file__).resolve().parents[3]
METRICS = ("temperature", "humidity", "pressure")
BUSY_PER_DAY = 86_400 * len(METRICS)  # one message a second, three readings each

# One day of readings: the busy topic's (i < busy) every third of a second, then the others' spread evenly.
FILL_DAY = """
INSERT INTO mqtt_telemetryreading (connection_id, topic_id, device, metric, value_type, value, text_value, unit,
                                   timestamp, received_at)
SELECT %(connection)s,
       CASE WHEN i < %(busy)s THEN %(busy_topic)s ELSE %(first_topic)s + (i %% %(topics)s) END,
       '', (ARRAY['temperature', 'humidity', 'pressure'])[1 + i %% 3], 'number',
       20 + 10 * sin(i / 5000.0) + (i %% 7), '', 'C', t, t
FROM (SELECT i, %(start)s + make_interval(secs => CASE WHEN i < %(busy)s THEN i / 3 * 1.0
                                                   ELSE (i - %(busy)s) * %(step)s END) AS t
      FROM generate_series(0, %(rows)s - 1) AS i) AS g
"""

# Readings as rows and as blocks, with their indexes and series.
SIZE = """
SELECT (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('mqtt_telemetryreading')
        WHERE isleaf)
     + (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('mqtt_reading_block')
        WHERE isleaf)
     + pg_total_relation_size('mqtt_readingseries'),
       (SELECT count(*) FROM mqtt_telemetryreading), (SELECT coalesce(sum(count), 0) FROM mqtt_reading_block)
"""


class Command(BaseCommand):
    help = "Fill N readings over 30 days and measure size, series, export, retention and ingest on them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--readings", type=int, default=10_000_000, help="Readings to fill (default 10 million).")
        parser.add_argument("--days", type=int, default=30, help="Days they span, one partition each (default 30).")
        parser.add_argument("--topics", type=int, default=2000, help="Topics besides the busy one (default 2,000).")
        parser.add_argument("--requests", type=int, default=100, help="Requests per series figure (default 100).")
        parser.add_argument("--ingest", action="store_true", help="Also compare mqtt_bench max-10 with an empty table.")
        parser.add_argument("--keep", action="store_true", help="Keep the readings (but the day retention drops).")
        parser.add_argument("--reuse", action="store_true", help="Measure the readings an earlier --keep run left.")

    def handle(self, *args: object, **options: int) -> None:
        require_migrated()
        if not partitions.enabled():
            raise CommandError("needs PostgreSQL with the partitioned readings table")
        days, readings = options["days"], options["readings"]
        if readings < days * BUSY_PER_DAY:
            raise CommandError(f"--readings must be at least {days * BUSY_PER_DAY:,}: the busy topic's own")
        now = timezone.now()
        site = Site.objects.filter(name__startswith="bench-history-").order_by("-pk").first()
        if options["reuse"] and site is None:
            raise CommandError("--reuse: no readings of an earlier run (keep them with --keep)")
        if options["reuse"]:
            conn = site.connections.get()
            busy = conn.topic_rows.get(topic="bench/t0")
            self.stdout.write(f"reusing the readings of {site.name}")
        else:
            site = Site.objects.create(name=f"bench-history-{int(now.timestamp())}")
            conn = MqttConnection.objects.create(site=site, name="history", host="127.0.0.1", is_active=False)
            topics = MqttTopic.objects.bulk_create(
                MqttTopic(connection=conn, topic=f"bench/t{i}", first_seen_at=now, last_seen_at=now)
                for i in range(options["topics"] + 1)
            )
            busy = topics[0]
        try:
            start = partitions.boundary_at_or_before(now - timedelta(days=days))
            if not options["reuse"]:
                self._fill(conn, busy, topics[1].pk, options["topics"], start, days, readings)
            self._size()
            self._rollups()
            self._compact()
            self._size()
            self._queries(busy, start + timedelta(days=days), options["requests"])
            self._compacted_reads(busy, start + timedelta(days=days // 3), options["requests"])
            self._retention()
            if options["ingest"]:
                self._ingest()
        finally:
            if not options["keep"]:
                began = time.perf_counter()
                TelemetryReading.objects.filter(connection=conn).delete()
                site.delete()
                self.stdout.write(f"clean-up: {time.perf_counter() - began:.1f} s")

    def _fill(self, conn: MqttConnection, busy: MqttTopic, first: int, topics: int, start: datetime, days: int,
              readings: int) -> None:  # fmt: skip
        per_day = readings // days
        step = 86_400 / max(1, per_day - BUSY_PER_DAY)
        self.stdout.write(f"filling {per_day * days:,} readings: {days} days, {topics + 1:,} topics")
        existing = {partition.name for partition in partitions.partitions()}
        began = time.perf_counter()
        for day in range(days):
            since = start + timedelta(days=day)
            if partitions.name_for(since) not in existing:  # (an earlier run's, or made ahead: today's)
                partitions.create(since, since + timedelta(days=1))
            params = {"connection": conn.pk, "busy": BUSY_PER_DAY, "busy_topic": busy.pk, "first_topic": first,
                      "topics": topics, "start": since, "step": step, "rows": per_day}  # fmt: skip
            with db.cursor() as cursor:
                cursor.execute(FILL_DAY, params)
            took = time.perf_counter() - began
            self.stdout.write(f"  day {day + 1}/{days}: {(day + 1) * per_day:,} rows, {took:.0f} s")
        with db.cursor() as cursor:
            cursor.execute("ANALYZE mqtt_telemetryreading")
        took = time.perf_counter() - began
        self.stdout.write(f"fill: {per_day * days:,} readings in {took:.0f} s, {per_day * days / took:,.0f} rows/s")

    def _size(self) -> None:
        with db.cursor() as cursor:
            cursor.execute(SIZE)
            size, rows, compacted = (int(value) for value in cursor.fetchone())
        count = rows + compacted
        if not count:
            raise CommandError("no readings to measure")
        self.stdout.write(
            f"size: {size / 1e6:,.0f} MB for {count:,} readings ({compacted:,} compacted): "
            f"{size / count:.1f} bytes a reading"
        )

    def _compact(self) -> None:
        began = time.perf_counter()
        done = compaction.compact(timezone.now())
        took = time.perf_counter() - began
        moved = sum(c.readings for c in done)
        self.stdout.write(
            f"compaction: {moved:,} readings of {len(done)} partitions into {sum(c.blocks for c in done):,} blocks "
            f"in {took:.0f} s, {moved / max(took, 1e-9):,.0f} readings/s"
        )

    def _compacted_reads(self, busy: MqttTopic, day: datetime, requests: int) -> None:
        """Reads of a compacted day: its raw series, its newest page and its export."""
        client = self._client()
        hours = {"since": (day + timedelta(hours=8)).isoformat(), "until": (day + timedelta(hours=16)).isoformat()}
        query = {"series": [f"{busy.pk}:{metric}" for metric in METRICS], **hours}
        answer = client.get("/api/series", query)
        if answer.status_code != 200:
            raise CommandError(f"series of a compacted day: {answer.status_code} {answer.content[:300]!r}")
        p50, p99 = p50_p99(requests, lambda: client.get("/api/series", query))
        self.stdout.write(f"8-hour series of a compacted day, 3 metrics ({answer.json()['source']}): "
                          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
        page = {"topic": busy.pk, "until": (day + timedelta(days=1)).isoformat(), "limit": 100}
        p50, p99 = p50_p99(requests, lambda: client.get("/api/readings", page))
        self.stdout.write(f"newest 100 readings of a compacted day: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        whole = {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}
        self._export(client, busy, whole, "24-hour raw export of a compacted day (CSV)")

    def _rollups(self) -> None:
        RollupState.objects.all().delete()  # the first run builds every bucket from the raw rows
        began = time.perf_counter()
        roll_up()
        self.stdout.write(f"first roll-up (every bucket): {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        roll_up()
        self.stdout.write(f"incremental roll-up: {time.perf_counter() - began:.2f} s")

    def _client(self) -> Client:
        user, _ = get_user_model().objects.get_or_create(username="bench-history", defaults={"is_superuser": True})
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        return client

    def _queries(self, busy: MqttTopic, until: datetime, requests: int) -> None:
        client = self._client()
        month = {"since": (until - timedelta(days=30)).isoformat(), "until": until.isoformat()}
        day = {"since": (until - timedelta(hours=24)).isoformat(), "until": until.isoformat()}
        three = {"series": [f"{busy.pk}:{metric}" for metric in METRICS]}
        for label, query in (("30-day series, 1 metric", {"topic": busy.pk, "metric": METRICS[0], **month}),
                             ("30-day series, 3 metrics", {**three, **month}),
                             ("24-hour series, 3 metrics", {**three, **day})):  # fmt: skip
            answer = client.get("/api/series", query)
            if answer.status_code != 200:
                raise CommandError(f"{label}: {answer.status_code} {answer.content[:300]!r}")
            p50, p99 = p50_p99(requests, lambda q=query: client.get("/api/series", q))
            self.stdout.write(f"{label} ({answer.json()['source']}): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        page = {"topic": busy.pk, "limit": 100}
        p50, p99 = p50_p99(requests, lambda: client.get("/api/readings", page))
        self.stdout.write(f"newest 100 readings: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        self._export(client, busy, day, "24-hour raw export of the last day (CSV)")

    def _export(self, client: Client, busy: MqttTopic, window: dict, label: str) -> None:
        with override_settings(MQTT_EXPORT_MAX_ROWS=BUSY_PER_DAY):
            began = time.perf_counter()
            answer = client.get("/api/readings", {"topic": busy.pk, **window, "format": "csv"})
            rows = sum(chunk.count(b"\n") for chunk in answer.streaming_content) - 1  # the header
        took = time.perf_counter() - began
        self.stdout.write(f"{label}: {rows:,} rows in {took:.1f} s, {rows / took:,.0f} rows/s")

    def _retention(self) -> None:
        dated = [p for p in partitions.partitions() if p.start is not None and p.end is not None]
        oldest = dated[0]
        blocks = compaction.blocks.name_for(oldest.start) if oldest.start else ""
        with db.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {db.ops.quote_name(oldest.name)}")  # noqa: S608 - a partition's name
            rows = cursor.fetchone()[0]
            if blocks in {p.name for p in compaction.blocks.partitions()}:
                cursor.execute(f"SELECT coalesce(sum(count), 0) FROM {db.ops.quote_name(blocks)}")  # noqa: S608
                rows += cursor.fetchone()[0]
        days = (timezone.now() - oldest.end) // timedelta(days=1)
        with override_settings(MQTT_READING_RETENTION_DAYS=days):  # the oldest partition, and only it, has expired
            began = time.perf_counter()
            apply_retention()
            took = time.perf_counter() - began
        self.stdout.write(f"retention of one day ({rows:,} readings, partitions dropped): {took:.3f} s")

    def _ingest(self) -> None:
        from bench.ingest.repeat import summary_of
        from bench.ingest_runs import one_run

        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith("postgres"):
            raise CommandError("--ingest needs DATABASE_URL (PostgreSQL): mqtt_bench's processes use it too")
        empty = urlunsplit(urlsplit(url)._replace(path=urlsplit(url).path + "_bench_empty"))
        args = ["--connections", "10", "--duration", "8", "--no-references"]
        manage = [sys.executable, str(ROOT / "manage.py"), "mqtt_bench", *args]
        filled = subprocess.run(manage, cwd=ROOT, capture_output=True, text=True, check=False)
        if filled.returncode:
            raise CommandError(f"mqtt_bench failed: {filled.stderr[-2000:]}")
        big, small = _max10(summary_of(filled.stdout)), _max10(summary_of(one_run(empty, args)))
        self.stdout.write(
            f"ingest max-10: {big:,.0f} stored msg/s on the filled table, {small:,.0f} on an empty one "
            f"({100 * big / small:.0f} %)"
        )


def _max10(phases: list[dict]) -> float:
    return next(float(p["stored_msgs_per_s"]) for p in phases if p.get("phase") == "max-10")
