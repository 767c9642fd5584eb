"""Compaction of closed partitions into blocks (PostgreSQL): every read answers the same before and after, a late
row is neither lost nor doubled, and blocks go with their topic, their partition's retention and a re-parse."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from mqtt_app.alerts.thresholds import _newest
from mqtt_app.history import compaction, series
from mqtt_app.ingest import partitions
from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import ReadingSeries, RollupState, TelemetryReading, ValueType
from tests.history.readings import closed_partition

pytestmark = [
    pytest.mark.skipif(db.vendor != "postgresql", reason="compaction is PostgreSQL's; SQLite keeps every row"),
    pytest.mark.django_db(transaction=True),  # VACUUM runs outside a transaction, as in the retention task
]
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_blocks():
    yield
    with db.cursor() as cursor:  # the test database's flush truncates the series, which fires no trigger
        cursor.execute("TRUNCATE mqtt_reading_block")


@pytest.fixture
def day():
    """A closed partition five days ago, and the roll-up's first run done (compaction waits for it)."""
    start = closed_partition(partitions.readings)
    RollupState.objects.update_or_create(pk=1, defaults={"marker": 1})
    return start


@pytest.fixture
def topics(make_connection, make_topic):
    conn = make_connection()
    return make_topic(conn, "plant/boiler"), make_topic(conn, "plant/pump")


def fill(topic, start, count: int, seed: int = 1) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        at = start + timedelta(seconds=rng.randrange(20 * 3600), microseconds=rng.randrange(10**6))
        kind = rng.choice([ValueType.NUMBER, ValueType.NUMBER, ValueType.BOOLEAN, ValueType.TEXT])
        rows.append(TelemetryReading(
            connection_id=topic.connection_id, topic=topic, device=rng.choice(["", "d1", "d2"]),
            metric=rng.choice(["temp", "hum"]), unit=rng.choice(["", "C"]), value_type=kind,
            value=None if kind == ValueType.TEXT else float(rng.randrange(3) if kind == ValueType.BOOLEAN else i),
            text_value=f"state {i} \u00e9" if kind == ValueType.TEXT else "", timestamp=at,
            received_at=at + timedelta(seconds=rng.randrange(2)),
        ))  # fmt: skip
    TelemetryReading.objects.bulk_create(rows)


def every_read(client, topics) -> dict:  # noqa: ANN001
    """What each API read of the readings answers: pages, filters, the export."""
    conn = topics[0].connection
    found = {}
    for query in (f"topic={topics[0].pk}", f"connection={conn.pk}", f"site={conn.site_id}",
                  f"topic={topics[0].pk}&metric=temp&device=d1", f"connection={conn.pk}&metric=hum"):  # fmt: skip
        for page in ("limit=1000", "limit=7&offset=13", "limit=50&offset=380"):
            found[query, page] = client.get(f"/api/readings?{query}&{page}").json()
        found[query, "csv"] = list(csv.reader(io.StringIO(
            b"".join(client.get(f"/api/readings?{query}&format=csv").streaming_content).decode())))  # fmt: skip
    return found


def test_every_read_answers_the_same_after_compaction(day, topics, staff_client, monkeypatch):
    monkeypatch.setattr(compaction, "BLOCK_SIZE", 9)  # many blocks a series: their order is merged
    fill(topics[0], day, 400)
    fill(topics[1], day, 150, seed=2)
    fill(topics[0], timezone.now() - timedelta(hours=2), 40, seed=3)  # an open partition: stays rows
    since, until = day + timedelta(hours=3), day + timedelta(hours=11)
    window = f"topic={topics[0].pk}&since={since.isoformat()}&until={until.isoformat()}".replace("+", "%2B")
    before = every_read(staff_client, topics) | {"window": staff_client.get(f"/api/readings?{window}").json()}
    how = series.plan(since, until, 500)
    chart = series.buckets(topics[0].pk, "temp", how)
    assert how.source == series.RAW and chart

    done = compaction.compact(timezone.now())

    assert [c.readings for c in done] == [550]
    assert TelemetryReading.objects.filter(received_at__lt=day + DAY).count() == 0
    after = every_read(staff_client, topics) | {"window": staff_client.get(f"/api/readings?{window}").json()}
    assert after == before
    assert series.buckets(topics[0].pk, "temp", how) == chart
    assert len(before["connection=" + str(topics[0].connection_id), "csv"]) == 591  # header + every reading


def test_a_row_that_arrives_in_a_compacted_partition_is_read_once_and_compacted_later(day, topics):
    fill(topics[0], day, 30)
    compaction.compact(timezone.now())
    fill(topics[0], day, 5, seed=9)  # a late arrival: a spool replayed, a batch retried

    assert _count(topics[0]) == 35
    compaction.compact(timezone.now())

    assert _count(topics[0]) == 35
    assert TelemetryReading.objects.filter(topic=topics[0]).count() == 0


def test_blocks_go_with_their_topic_and_with_their_partition(day, topics, settings):
    fill(topics[0], day, 30)
    fill(topics[1], day, 30, seed=2)
    compaction.compact(timezone.now())
    topics[1].delete()

    assert not ReadingSeries.objects.filter(topic_id=topics[1].pk).exists()
    assert _blocks() == {s.pk for s in ReadingSeries.objects.filter(topic=topics[0])}

    settings.MQTT_READING_RETENTION_DAYS = 3
    apply_retention()

    assert _blocks() == set()
    assert compaction.blocks.name_for(day) not in {p.name for p in compaction.blocks.partitions()}


def test_expanding_a_topics_blocks_gives_back_the_same_rows(day, topics):
    fill(topics[0], day, 60)
    fill(topics[1], day, 10, seed=2)
    rows = _rows(TelemetryReading.objects.filter(topic=topics[0]))
    compaction.compact(timezone.now())

    compaction.expand(topics[0].pk, day, day + timedelta(hours=21))

    assert _rows(TelemetryReading.objects.filter(topic=topics[0])) == rows
    assert _blocks() == {s.pk for s in ReadingSeries.objects.filter(topic=topics[1])}  # the other topic's stay


def test_threshold_alerts_read_compacted_readings(day, topics):
    fill(topics[0], day, 80)
    newest = _newest(topics[0].pk, "temp")
    compaction.compact(timezone.now())

    assert _newest(topics[0].pk, "temp") == newest and newest


def _count(topic) -> int:  # noqa: ANN001
    return TelemetryReading.objects.filter(topic=topic).count() + sum(n for n in _block_counts(topic))


def _block_counts(topic) -> list[int]:  # noqa: ANN001
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT b.count FROM mqtt_reading_block b JOIN mqtt_readingseries s ON s.id = b.series_id "
            "WHERE s.topic_id = %s", [topic.pk],
        )  # fmt: skip
        return [row[0] for row in cursor.fetchall()]


def _blocks() -> set[int]:
    with db.cursor() as cursor:
        cursor.execute("SELECT DISTINCT series_id FROM mqtt_reading_block")
        return {row[0] for row in cursor.fetchall()}


def _rows(queryset) -> list[tuple]:  # noqa: ANN001
    fields = ("id", "connection_id", "topic_id", "device", "metric", "value_type", "value", "text_value", "unit",
              "timestamp", "received_at")  # fmt: skip
    return sorted(queryset.values_list(*fields))


def test_the_emptied_partition_is_truncated_or_left_to_vacuum_when_busy(day, topics, monkeypatch):
    import psycopg

    fill(topics[0], day, 5000)
    compaction.compact(timezone.now())
    assert _size(partitions.name_for(day)) <= 80_000  # the empty indexes' first pages only (were 300 kB)

    fill(topics[0], day, 50, seed=4)
    monkeypatch.setattr(compaction, "LOCK_TIMEOUT", "200ms")
    params = db.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as reader:
        reader.execute(f"SELECT count(*) FROM {partitions.name_for(day)}")  # a long read holds the partition

        compaction.compact(timezone.now())

    assert TelemetryReading.objects.filter(topic=topics[0]).count() == 0 and _count(topics[0]) == 5050


def _size(table: str) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        return cursor.fetchone()[0]
