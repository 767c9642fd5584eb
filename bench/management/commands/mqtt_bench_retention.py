"""`manage.py mqtt_bench_retention --rows N`: the time retention takes to remove one day of readings.

Fills a partition of a day 60 days back with N readings (generate_series), then times `apply_retention`, which
drops that partition whole; then, for comparison, the same number of rows removed by the chunked delete that
SQLite and rows outside the dated partitions get (on a throwaway copy of those rows in the DEFAULT partition).
PostgreSQL only. Everything it creates is gone at the end.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection as db
from django.test import override_settings
from django.utils import timezone

from mqtt_app.ingest import partitions
from mqtt_app.ingest.retention import apply_retention, delete_older
from mqtt_app.management.migrated import require_migrated
from mqtt_app.models import MqttConnection, MqttTopic, Site, TelemetryReading

FILL = """
INSERT INTO mqtt_telemetryreading (connection_id, topic_id, device, metric, value_type, value, text_value, unit,
                                   timestamp, received_at)
SELECT %s, %s, '', 'm', 'number', i, '', '', %s + i * %s * interval '1 microsecond',
       %s + i * %s * interval '1 microsecond'
FROM generate_series(0, %s - 1) AS i
"""


class Command(BaseCommand):
    help = "Time retention of one day of readings: a dropped partition, against chunked deletes (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=2_000_000, help="Readings in the day (default 2,000,000).")
        parser.add_argument("--chunked-rows", type=int, default=200_000, help="Rows for the chunked comparison.")

    def handle(self, *args: object, **options: int) -> None:
        require_migrated()
        if not partitions.enabled():
            raise CommandError("needs PostgreSQL with the partitioned readings table (migration 0012)")
        site = Site.objects.create(name=f"bench-retention-{int(time.time())}")
        try:
            conn = MqttConnection.objects.create(site=site, name="retention", host="127.0.0.1", is_active=False)
            now = timezone.now()
            topic = MqttTopic.objects.create(connection=conn, topic="bench/retention", first_seen_at=now,
                                             last_seen_at=now)  # fmt: skip
            self._partition_drop(conn, topic, options["rows"])
            self._chunked(conn, topic, options["chunked_rows"])
        finally:
            site.delete()

    def _partition_drop(self, conn: MqttConnection, topic: MqttTopic, rows: int) -> None:
        day = partitions.boundary_at_or_before(timezone.now() - timedelta(days=60))
        partitions.create(day, day + timedelta(days=1))
        began = time.perf_counter()
        self._fill(conn, topic, day, rows)
        self.stdout.write(f"filled one day of {rows:,} readings in {time.perf_counter() - began:.1f} s")
        with db.cursor() as cursor:
            cursor.execute("ANALYZE " + db.ops.quote_name(partitions.name_for(day)))
        with override_settings(MQTT_READING_RETENTION_DAYS=30):
            began = time.perf_counter()
            apply_retention()
            took = time.perf_counter() - began
        self.stdout.write(f"retention, partition dropped: {rows:,} readings in {took:.3f} s (whole retention run)")

    def _chunked(self, conn: MqttConnection, topic: MqttTopic, rows: int) -> None:
        old = timezone.now() - timedelta(days=400)  # before every dated partition: the default partition's rows
        self._fill(conn, topic, old, rows)
        began = time.perf_counter()
        deleted = delete_older(TelemetryReading, "received_at", old + timedelta(days=1), 5000)
        took = time.perf_counter() - began
        self.stdout.write(
            f"chunked delete (5,000 a chunk): {deleted:,} readings in {took:.1f} s, {deleted / took:,.0f} rows/s"
        )

    @staticmethod
    def _fill(conn: MqttConnection, topic: MqttTopic, start, rows: int) -> None:  # noqa: ANN001
        step = 86_400_000_000 / rows  # microseconds between rows: one day
        with db.cursor() as cursor:
            cursor.execute(FILL, [conn.pk, topic.pk, start, step, start, step, rows])
