"""Readings: filters, newest first, pages without counting, and a streamed CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from mqtt_app.models import TelemetryReading, ValueType

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def topic(make_connection, make_topic):
    return make_topic(make_connection(), "plant/boiler")


def _add(topic, minute: int, metric: str = "temp", value: float = 1.0, **fields) -> TelemetryReading:
    at = T0 + timedelta(minutes=minute)
    return TelemetryReading.objects.create(
        connection_id=topic.connection_id,
        topic=topic,
        device="boiler",
        metric=metric,
        value=value,
        timestamp=at,
        received_at=at,
        **fields,
    )


def test_readings_come_newest_first_in_pages(viewer_client, topic):
    for minute in range(5):
        _add(topic, minute, value=minute)
    first = viewer_client.get(f"/api/readings?topic={topic.pk}&limit=2").json()
    assert [r["value"] for r in first["items"]] == [4.0, 3.0]
    assert first["count"] is None  # not counted: the table is large
    assert first["next_offset"] == 2
    last = viewer_client.get(f"/api/readings?topic={topic.pk}&limit=2&offset=4").json()
    assert [r["value"] for r in last["items"]] == [0.0]
    assert last["next_offset"] is None


def test_readings_filter_by_metric_and_time_range(viewer_client, topic):
    for minute in range(6):
        _add(topic, minute, metric="temp" if minute % 2 else "pressure", value=minute)
    since, until = (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=5)).isoformat()
    query = {"topic": topic.pk, "metric": "temp", "since": since, "until": until}
    body = viewer_client.get("/api/readings", query).json()
    assert [r["value"] for r in body["items"]] == [3.0, 1.0]  # until is exclusive


def test_a_naive_since_is_read_as_utc(viewer_client, topic):
    _add(topic, 0)
    _add(topic, 10)
    body = viewer_client.get("/api/readings", {"topic": topic.pk, "since": "2026-01-01T12:05:00"}).json()
    assert len(body["items"]) == 1


def test_booleans_and_text_keep_their_type(viewer_client, topic):
    _add(topic, 0, metric="on", value=1.0, value_type=ValueType.BOOLEAN)
    _add(topic, 1, metric="mode", value=None, value_type=ValueType.TEXT, text_value="eco")
    items = viewer_client.get(f"/api/readings?topic={topic.pk}").json()["items"]
    values = {r["metric"]: r["value"] for r in items}
    assert values == {"on": True, "mode": "eco"}


def test_an_invalid_since_is_a_422_naming_since(viewer_client):
    response = viewer_client.get("/api/readings?since=yesterday")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "since"


def test_a_connection_that_is_not_a_number_is_a_422_naming_connection(viewer_client, topic):
    response = viewer_client.get("/api/readings?connection=abc")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "connection"


def test_a_connection_with_no_readings_is_an_empty_page(viewer_client, topic, make_connection):
    _add(topic, 0)
    body = viewer_client.get(f"/api/readings?connection={make_connection().pk}").json()
    assert body["items"] == [] and body["next_offset"] is None


def test_an_unknown_connection_is_a_404(viewer_client, topic):
    assert viewer_client.get(f"/api/readings?connection={topic.connection_id + 1000}").status_code == 404


def test_csv_export_streams_every_matching_row(viewer_client, topic):
    for minute in range(250):
        _add(topic, minute, value=minute)
    _add(topic, 300, metric="=HYPERLINK(evil)")
    response = viewer_client.get(f"/api/readings?topic={topic.pk}&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 251  # not limited to one page
    assert rows[0]["metric"] == "'=HYPERLINK(evil)"  # defused for spreadsheets
    assert rows[1] == {"timestamp": (T0 + timedelta(minutes=249)).isoformat(), "received_at": rows[1]["received_at"],
                       "connection": str(topic.connection_id), "topic": "plant/boiler", "device": "boiler",
                       "metric": "temp", "value": "249.0", "unit": ""}  # fmt: skip


def test_csv_export_honours_an_explicit_limit(viewer_client, topic):
    for minute in range(5):
        _add(topic, minute)
    response = viewer_client.get(f"/api/readings?topic={topic.pk}&format=csv&limit=2")
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 3  # header + 2


def test_a_connections_readings_come_newest_first_across_its_topics(viewer_client, make_connection, make_topic):
    """Through its topics' index on PostgreSQL (reading_queries.py), the plain filter on SQLite: the same pages.
    Equal timestamps are ordered by id; another connection's newer readings never show."""
    conn, other = make_connection(), make_connection()
    topics = [make_topic(conn, f"plant/{name}") for name in ("a", "b", "c")]
    noise = make_topic(other, "plant/a")
    stored = []
    for i in range(24):
        topic = topics[(i * 7) % 3]
        stored.append(_add(topic, i // 2, metric="temp" if i % 3 else "pressure", value=i))  # pairs share a time
        _add(noise, 100 + i, value=-i)
    expected = [r.value for r in sorted(stored, key=lambda r: (r.timestamp, r.pk), reverse=True)]
    pages = [viewer_client.get(f"/api/readings?connection={conn.pk}&limit=5&offset={o}").json() for o in (0, 5, 20)]
    assert [r["value"] for r in pages[0]["items"]] == expected[:5]
    assert [r["value"] for r in pages[1]["items"]] == expected[5:10]
    assert [r["value"] for r in pages[2]["items"]] == expected[20:]
    assert (pages[0]["next_offset"], pages[2]["next_offset"]) == (5, None)
    assert {r["connection"] for page in pages for r in page["items"]} == {conn.pk}

    since, until = (T0 + timedelta(minutes=2)).isoformat(), (T0 + timedelta(minutes=8)).isoformat()
    narrowed = viewer_client.get(
        "/api/readings", {"connection": conn.pk, "metric": "temp", "since": since, "until": until, "limit": 3}
    ).json()
    wanted = [
        r.value
        for r in sorted(stored, key=lambda r: (r.timestamp, r.pk), reverse=True)
        if r.metric == "temp" and T0 + timedelta(minutes=2) <= r.timestamp < T0 + timedelta(minutes=8)
    ]
    assert [r["value"] for r in narrowed["items"]] == wanted[:3]

    response = viewer_client.get(f"/api/readings?connection={conn.pk}&format=csv&limit=4&offset=2")
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [float(row["value"]) for row in lines] == expected[2:6]

    # One message's readings share their time: a page can end inside such a burst of one topic.
    burst = [_add(topics[1], 50, metric=f"m{n}", value=100 + n) for n in range(4)]
    first = viewer_client.get(f"/api/readings?connection={conn.pk}&limit=2").json()
    assert [r["value"] for r in first["items"]] == [burst[3].value, burst[2].value]


def test_deleting_a_connection_deletes_its_readings_with_its_topics(make_connection, make_topic):
    conn, other = make_connection(), make_connection()
    _add(make_topic(conn, "plant/a"), 0)
    _add(make_topic(conn, "plant/b"), 1)
    kept = _add(make_topic(other, "plant/a"), 2)
    conn.delete()
    assert list(TelemetryReading.objects.values_list("pk", flat=True)) == [kept.pk]


def test_every_page_of_a_connection_with_more_topics_than_the_page_is_right(viewer_client, make_connection,
                                                                           make_topic):  # fmt: skip
    """Topics whose newest reading is behind the page's cutoff are skipped (PostgreSQL); ties at the cutoff are
    kept: topics b and c tie at minute 8, third and fourth, and the page at offset 2 of one row (four read)
    needs both, since a and f have only one reading newer."""
    conn = make_connection()
    topics = {name: make_topic(conn, f"plant/{name}") for name in "abcdefgh"}
    minutes = {"a": [10, 2], "b": [8, 4], "c": [8, 0], "d": [5, 5, 5], "e": [3], "f": [9, 1], "g": [], "h": [7]}
    pairs = [(name, minute) for name, times in minutes.items() for minute in times]
    stored = [_add(topics[name], minute, value=i) for i, (name, minute) in enumerate(pairs)]
    expected = [r.value for r in sorted(stored, key=lambda r: (r.timestamp, r.pk), reverse=True)]
    for limit in (1, 2, 3):
        got = []
        for offset in range(0, len(expected) + 1, limit):
            page = viewer_client.get(f"/api/readings?connection={conn.pk}&limit={limit}&offset={offset}").json()
            got += [r["value"] for r in page["items"]]
            assert page["next_offset"] == (offset + limit if offset + limit < len(expected) else None)
        assert got == expected, limit
