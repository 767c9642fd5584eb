"""Dead letters over the API: filtered lists with a bounded payload excerpt, the raw payload, and replays (staff
only) that store a message at most once and fold a repeated failure into the same row."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from mqtt_app.api.dead_letters import EXCERPT_BYTES, DeadLetterOut, DeadLetterPage
from mqtt_app.models import DeadLetter, IngestBatch, MqttTopic, TelemetryReading
from tests.api.requests import post_json
from tests.ingest.test_hostile_input import allow_values, refuse_value
from tests.ops.dead_letters import make_dead_letter

pytestmark = pytest.mark.django_db


# --- reading -------------------------------------------------------------------------------------------------
def test_the_list_is_newest_first_with_names_an_excerpt_and_the_size(viewer_client, make_connection):
    conn = make_connection()
    big = b"x" * (EXCERPT_BYTES * 5)
    old = make_dead_letter(conn, minutes_ago=10)
    new = make_dead_letter(conn, payload=big, minutes_ago=1)

    body = viewer_client.get("/api/dead-letters").json()

    DeadLetterPage.model_validate(body)
    assert [item["id"] for item in body["items"]] == [str(new.pk), str(old.pk)]
    first = body["items"][0]
    assert first["payload_size"] == len(big)
    assert first["payload_excerpt"] == "x" * EXCERPT_BYTES + "…"  # bounded, never the whole payload
    assert (first["connection"], first["connection_name"], first["site_name"]) == (conn.pk, conn.name, conn.site.name)
    assert (first["state"], first["replay_count"], first["replay_result"]) == ("pending", 0, "")


def test_the_list_filters_by_connection_site_and_replayed(viewer_client, make_connection):
    conn, other = make_connection(), make_connection()
    waiting = make_dead_letter(conn)
    stored = make_dead_letter(conn, replay_count=1, replay_result="stored", replayed_at=timezone.now())
    failed = make_dead_letter(conn, replay_count=2, replay_result="failed again: x", replayed_at=timezone.now())
    elsewhere = make_dead_letter(other)

    def ids(query: str) -> set[str]:
        response = viewer_client.get(f"/api/dead-letters?{query}")
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    assert ids(f"connection={conn.pk}") == {str(waiting.pk), str(stored.pk), str(failed.pk)}
    assert ids(f"site={other.site_id}") == {str(elsewhere.pk)}
    assert ids(f"connection={conn.pk}&replayed=true") == {str(stored.pk)}
    assert ids(f"connection={conn.pk}&replayed=false") == {str(waiting.pk), str(failed.pk)}
    states = {item["id"]: item["state"] for item in viewer_client.get("/api/dead-letters").json()["items"]}
    assert states[str(failed.pk)] == "failed_again"


def test_a_dead_letter_of_a_deleted_connection_is_still_listed_to_superusers(staff_client, make_connection):
    conn = make_connection()
    kept = make_dead_letter(conn)
    conn.delete()

    (item,) = staff_client.get("/api/dead-letters").json()["items"]

    assert (item["id"], item["connection_name"], item["site"]) == (str(kept.pk), "", None)


def test_one_dead_letter_and_its_raw_payload(viewer_client, make_connection):
    raw = bytes(range(256)) * 10
    row = make_dead_letter(make_connection(), payload=raw)

    detail = viewer_client.get(f"/api/dead-letters/{row.pk}")
    payload = viewer_client.get(f"/api/dead-letters/{row.pk}/payload")

    assert detail.status_code == 200
    DeadLetterOut.model_validate(detail.json())
    assert detail.json()["payload_size"] == len(raw)
    assert len(detail.json()["payload_excerpt"]) <= EXCERPT_BYTES + 1
    assert payload.status_code == 200
    assert payload["Content-Type"] == "application/octet-stream"
    assert payload.content == raw


def test_unknown_and_malformed_ids_and_filters_are_clear_4xx(viewer_client):
    missing = viewer_client.get(f"/api/dead-letters/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "No dead letter" in missing.json()["detail"]
    assert viewer_client.get(f"/api/dead-letters/{uuid.uuid4()}/payload").status_code == 404
    malformed = viewer_client.get("/api/dead-letters/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "dead_letter_id"
    assert viewer_client.get("/api/dead-letters?replayed=maybe").status_code == 422
    assert viewer_client.get("/api/dead-letters?connection=x").status_code == 422


def test_reading_needs_a_login(anon_client, make_connection):
    row = make_dead_letter(make_connection())
    assert anon_client.get("/api/dead-letters").status_code == 401
    assert anon_client.get(f"/api/dead-letters/{row.pk}").status_code == 401
    assert anon_client.get(f"/api/dead-letters/{row.pk}/payload").status_code == 401


# --- replaying -----------------------------------------------------------------------------------------------
def test_only_staff_replay(viewer_client, anon_client, make_connection):
    row = make_dead_letter(make_connection())
    for client, status in ((anon_client, 401), (viewer_client, 403)):
        assert client.post(f"/api/dead-letters/{row.pk}/replay").status_code == status
        assert post_json(client, "/api/dead-letters/replay", {"ids": [str(row.pk)]}).status_code == status
    row.refresh_from_db()
    assert row.replay_count == 0


def test_a_replay_stores_the_message_once_however_often_it_is_asked(staff_client, make_connection):
    conn = make_connection()
    row = make_dead_letter(conn, topic="plant/boiler/temp", payload=b'{"v": 21.5}')

    first = staff_client.post(f"/api/dead-letters/{row.pk}/replay")
    again = staff_client.post(f"/api/dead-letters/{row.pk}/replay")  # a double click, a retried request
    bulk = post_json(staff_client, "/api/dead-letters/replay", {"ids": [str(row.pk), str(row.pk)]})

    assert first.status_code == 200, first.content
    assert (first.json()["status"], first.json()["replay_result"], first.json()["replay_count"]) == (
        "stored",
        "stored",
        1,
    )
    assert again.json()["status"] == "already_stored"
    assert [r["status"] for r in bulk.json()["results"]] == ["already_stored"]
    topic = MqttTopic.objects.get(connection=conn, topic="plant/boiler/temp")
    assert topic.message_count == 1
    assert IngestBatch.objects.filter(batch=uuid.uuid5(row.pk, "replay-1")).count() == 1
    assert list(TelemetryReading.objects.filter(topic=topic).values_list("value", flat=True)) == [21.5]
    row.refresh_from_db()
    assert (row.replay_count, row.replay_result) == (1, "stored")
    assert row.replayed_at is not None
    listed = staff_client.get(f"/api/dead-letters/{row.pk}").json()
    assert listed["state"] == "stored"


def test_a_replay_that_fails_again_keeps_one_row_and_a_later_replay_stores_it(staff_client, make_connection):
    conn = make_connection()
    row = make_dead_letter(conn, topic="gen/poison", payload=b'{"v": 666}', error_kind="old", error="old reason")
    refuse_value(666)  # the database itself refuses it: what nothing before the database foresaw

    failed = staff_client.post(f"/api/dead-letters/{row.pk}/replay").json()

    assert failed["status"] == "failed"
    assert failed["replay_result"].startswith("failed again: ")
    assert "refuse" in failed["replay_result"] or "check" in failed["replay_result"].lower()
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [row.pk]  # no second row for the message
    row.refresh_from_db()
    assert row.replay_count == 1
    assert (row.error_kind, row.error) != ("old", "old reason")  # the latest failure's reason
    assert not TelemetryReading.objects.filter(value=666).exists()

    allow_values()  # the cause is fixed: a deliberate new attempt is a new batch, and stores it
    stored = staff_client.post(f"/api/dead-letters/{row.pk}/replay").json()

    assert (stored["status"], stored["replay_count"]) == ("stored", 2)
    assert TelemetryReading.objects.filter(value=666).count() == 1
    assert DeadLetter.objects.count() == 1


def test_a_bulk_replay_reports_each_id(staff_client, make_connection):
    conn = make_connection()
    a = make_dead_letter(conn, topic="plant/a", payload=b"1", minutes_ago=2)
    b = make_dead_letter(conn, topic="plant/b", payload=b"2", minutes_ago=1)
    unknown = uuid.uuid4()

    response = post_json(staff_client, "/api/dead-letters/replay", {"ids": [str(b.pk), str(unknown), str(a.pk)]})

    assert response.status_code == 200, response.content
    results = {r["id"]: r["status"] for r in response.json()["results"]}
    assert results == {str(a.pk): "stored", str(b.pk): "stored", str(unknown): "not_found"}
    assert staff_client.post(f"/api/dead-letters/{unknown}/replay").status_code == 404


def test_a_bulk_replay_rejects_bad_input(staff_client):
    assert post_json(staff_client, "/api/dead-letters/replay", {"ids": []}).status_code == 422
    bad = post_json(staff_client, "/api/dead-letters/replay", {"ids": ["nope"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("ids")
    assert post_json(staff_client, "/api/dead-letters/replay", {}).status_code == 422
    assert staff_client.post("/api/dead-letters/replay", "{", content_type="application/json").status_code == 400


def test_a_staff_token_replays_too(anon_client, staff_token, make_connection):
    row = make_dead_letter(make_connection(), topic="plant/t", payload=b"5")
    response = anon_client.post(f"/api/dead-letters/{row.pk}/replay", HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    assert response.status_code == 200
    assert response.json()["status"] == "stored"
