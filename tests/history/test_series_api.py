"""GET /api/series: buckets of one or several series, strict validation naming the parameter, per-site access."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mqtt_app.history.rollup import roll_up
from mqtt_app.models import MqttConnection, MqttTopic, Role, Site, SiteRole
from tests.history.readings import add

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model, topic) -> Client:
    user = django_user_model.objects.create_user("viewer", password="pw")
    SiteRole.objects.create(user=user, site_id=topic.connection.site_id, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def elsewhere() -> MqttTopic:
    site = Site.objects.create(name="Elsewhere")
    conn = MqttConnection.objects.create(site=site, name="other", host="127.0.0.1", port=1883)
    now = timezone.now()
    return MqttTopic.objects.create(connection=conn, topic="secret/t", first_seen_at=now, last_seen_at=now)


def errors_of(response) -> list[str]:  # noqa: ANN001
    assert response.status_code == 422, response.content
    return [e["field"] for e in response.json()["errors"]]


def test_one_series_answers_buckets_with_min_max_avg_and_count(viewer, topic):
    start = timezone.now().replace(second=0, microsecond=0, tzinfo=UTC) - timedelta(hours=2)
    add(topic, "temp", [(start + timedelta(seconds=10 * i), float(i)) for i in range(12)])  # two minutes
    until = (start + timedelta(minutes=2)).isoformat()

    response = viewer.get("/api/series", {"topic": topic.id, "metric": "temp", "since": start.isoformat(),
                                          "until": until, "points": 3})  # fmt: skip

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["width"], body["source"]) == (60, "minute")  # not rolled up yet: nothing
    assert body["series"] == [{"topic": topic.id, "metric": "temp", "points": []}]
    roll_up()
    body = viewer.get("/api/series", {"topic": topic.id, "metric": "temp", "since": start.isoformat(), "until": until,
                                      "points": 3}).json()  # fmt: skip
    assert [(p["min"], p["max"], p["avg"], p["count"]) for p in body["series"][0]["points"]] == [
        (0.0, 5.0, 2.5, 6), (6.0, 11.0, 8.5, 6)
    ]  # fmt: skip
    raw = viewer.get("/api/series", {"topic": topic.id, "metric": "temp", "since": start.isoformat(), "until": until,
                                     "points": 200}).json()  # fmt: skip
    assert (raw["width"], raw["source"]) == (1, "raw")
    assert [p["avg"] for p in raw["series"][0]["points"]] == [float(i) for i in range(12)]


def test_several_series_in_one_call_including_another_topic(viewer, topic, django_user_model):
    now = timezone.now()
    second = MqttTopic.objects.create(
        connection=topic.connection, topic="plant/pump", first_seen_at=now, last_seen_at=now
    )
    add(topic, "temp", [(now - timedelta(hours=h), 20.0 + h) for h in range(48)])
    add(topic, "hum", [(now - timedelta(hours=h), 50.0) for h in range(48)])
    add(second, "flow", [(now - timedelta(hours=h), 3.0) for h in range(48)])
    roll_up()

    since = (now - timedelta(days=30)).isoformat()
    response = viewer.get(
        "/api/series", {"series": [f"{topic.id}:temp", f"{topic.id}:hum", f"{second.id}:flow"], "since": since}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "hour"
    assert [(s["topic"], s["metric"]) for s in body["series"]] == [
        (topic.id, "temp"),
        (topic.id, "hum"),
        (second.id, "flow"),
    ]
    assert [sum(p["count"] for p in s["points"]) for s in body["series"]] == [48, 48, 48]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"metric": "temp"}, "topic"),
        ({"topic": "{topic}"}, "metric"),
        ({}, "topic"),
        ({"topic": "{topic}", "metric": "temp", "since": "yesterday"}, "since"),
        ({"topic": "{topic}", "metric": "temp", "until": "2026-13-01T00:00:00"}, "until"),
        (
            {"topic": "{topic}", "metric": "temp", "since": "2026-01-02T00:00:00", "until": "2026-01-01T00:00:00"},
            "since",
        ),
        (
            {"topic": "{topic}", "metric": "temp", "since": "2026-01-01T00:00:00", "until": "2026-01-01T00:00:00"},
            "since",
        ),
        ({"topic": "{topic}", "metric": "temp", "points": "2001"}, "points"),
        ({"topic": "{topic}", "metric": "temp", "points": "1"}, "points"),
        ({"topic": "{topic}", "metric": "temp", "points": "many"}, "points"),
        ({"series": "temp"}, "series"),
        ({"series": "{topic}:"}, "series"),
        ({"series": [f"{{topic}}:m{i}" for i in range(9)]}, "series"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(viewer, topic, query, field):
    def fill(value):  # noqa: ANN001, ANN202
        return [v.format(topic=topic.id) for v in value] if isinstance(value, list) else value.format(topic=topic.id)

    assert errors_of(viewer.get("/api/series", {k: fill(v) for k, v in query.items()})) == [field]


def test_an_unknown_topic_is_not_found(viewer):
    assert viewer.get("/api/series", {"topic": 999999, "metric": "temp"}).status_code == 404


def test_a_topic_of_a_site_the_user_cannot_see_is_not_found_even_beside_a_visible_one(viewer, topic, elsewhere):
    add(elsewhere, "temp", [(timezone.now(), 1.0)])

    alone = viewer.get("/api/series", {"topic": elsewhere.id, "metric": "temp"})
    mixed = viewer.get("/api/series", {"series": [f"{topic.id}:temp", f"{elsewhere.id}:temp"]})

    assert alone.status_code == mixed.status_code == 404
    assert b"secret" not in alone.content + mixed.content


def test_anonymous_callers_are_refused():
    assert Client().get("/api/series", {"topic": 1, "metric": "temp"}).status_code == 401
