"""Connections CRUD: the shape of a connection, validation errors that name the field, write-only secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mqtt_app.models import MqttConnection
from tests.api.requests import SECRET, patch_json, post_json

pytestmark = pytest.mark.django_db


def _valid(site_id: int, **changes) -> dict:
    body = {
        "site": site_id,
        "name": "plant broker",
        "host": "broker.example",
        "port": 8883,
        "protocol": "5",
        "username": "u",
        "password": SECRET,
        "topics": [{"filter": "sensors/#", "qos": 1}],
        "tls": {"enabled": True, "ca_certs": "PEM-CA", "client_cert": "PEM-CERT", "client_key": "PEM-KEY"},
    }
    body.update(changes)
    return body


def _fields(response) -> list[str | None]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_connection_is_created_with_nested_tls_and_topics(staff_client, make_site):
    response = post_json(staff_client, "/api/connections", _valid(make_site().pk))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tls"] == {"enabled": True, "ca_certs": "PEM-CA", "client_cert": "PEM-CERT",
                           "has_client_key": True, "insecure": False}  # fmt: skip
    assert body["topics"] == [{"filter": "sensors/#", "qos": 1}]
    assert body["has_password"] is True
    assert body["status"] == "stopped"
    stored = MqttConnection.objects.get(pk=body["id"])
    assert (stored.password, stored.tls_client_key, stored.protocol) == (SECRET, "PEM-KEY", "5")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"port": 70000}, "port"),
        ({"port": 0}, "port"),
        ({"port": "abc"}, "port"),
        ({"topics": [{"filter": "a/#/b", "qos": 1}]}, "topics"),
        ({"topics": [{"filter": "a/b", "qos": 3}]}, "topics"),
        ({"topics": []}, "topics"),
        ({"site": 999999}, "site"),
        ({"host": "mqtt://broker/x"}, "host"),
        ({"protocol": "4"}, "protocol"),
        ({"tls": {"client_key": "KEY-ONLY"}}, "tls.client_cert"),
        ({"keepalive": 1}, "keepalive"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field_and_the_reason(staff_client, make_site, changes, field):
    body = _valid(make_site().pk, **changes)
    if field == "tls.client_cert":
        body["tls"] = changes["tls"]
    response = post_json(staff_client, "/api/connections", body)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert all(e["message"] for e in response.json()["errors"])
    assert not MqttConnection.objects.exists()


def test_a_bad_topic_filter_error_says_why(staff_client, make_site):
    response = post_json(staff_client, "/api/connections", _valid(make_site().pk, topics=[{"filter": "a/#/b"}]))
    assert "'#' must be a whole level and the last one" in response.json()["errors"][0]["message"]


def test_a_duplicate_name_on_the_same_site_is_a_422_on_name(staff_client, make_connection):
    existing = make_connection(name="dup")
    response = post_json(staff_client, "/api/connections", _valid(existing.site_id, name="dup"))
    assert response.status_code == 422
    assert _fields(response) == ["name"]


def test_a_body_that_is_not_json_is_a_400(staff_client):
    response = staff_client.post("/api/connections", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.json()["detail"]


def test_patch_changes_only_what_was_sent_and_keeps_the_password(staff_client, make_connection):
    conn = make_connection(port=1883, username="keep")
    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {"port": 1884, "tls": {"insecure": True}})
    assert response.status_code == 200, response.content
    conn.refresh_from_db()
    assert (conn.port, conn.username, conn.password, conn.tls_insecure) == (1884, "keep", SECRET, True)


def test_patch_with_an_empty_password_removes_it(staff_client, make_connection):
    conn = make_connection()
    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {"password": ""})
    assert response.json()["has_password"] is False
    conn.refresh_from_db()
    assert conn.password == ""


def test_patch_validation_leaves_the_row_unchanged(staff_client, make_connection):
    conn = make_connection(port=1883)
    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {"port": 99999})
    assert response.status_code == 422
    conn.refresh_from_db()
    assert conn.port == 1883


def test_a_connection_is_deleted(staff_client, make_connection):
    conn = make_connection()
    assert staff_client.delete(f"/api/connections/{conn.pk}").status_code == 204
    assert not MqttConnection.objects.filter(pk=conn.pk).exists()


def test_the_list_filters_by_site_and_search(staff_client, make_site, make_connection):
    site = make_site()
    make_connection(site=site, name="alpha")
    make_connection(site=site, name="beta")
    make_connection(name="alpha elsewhere")
    body = staff_client.get(f"/api/connections?site={site.pk}&search=alp").json()
    assert [c["name"] for c in body["items"]] == ["alpha"]
    assert body["count"] == 1


def test_the_list_is_one_query_per_page_whatever_its_length(staff_client, make_site, make_connection,
                                                            django_assert_max_num_queries):  # fmt: skip
    site = make_site()
    for number in range(30):
        make_connection(site=site, name=f"c{number:02}")
    # session + user + the page (+ a count when the page is not the whole list)
    with django_assert_max_num_queries(4):
        body = staff_client.get("/api/connections?limit=10").json()
    assert len(body["items"]) == 10
    assert body["count"] == 30


def test_the_list_matches_its_documented_schema(staff_client, make_connection):
    from mqtt_app.api.connections import ConnectionPage

    seen = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    conn = make_connection(client_id="", connect_count=3, tls_client_key="KEY", tls_client_cert="CERT",
                           last_message_at=seen)  # fmt: skip
    body = staff_client.get("/api/connections").json()
    page = ConnectionPage.model_validate(body)  # the list skips ninja's response validation, for speed
    item = page.items[0]
    # A connection saved without a client id stores a random one (models/connections.py: new_client_id).
    assert item.client_id.startswith("mqttmon-") and item.client_id != f"mqttmon-{item.id}"
    assert (item.effective_client_id, item.restart_count, item.tls.has_client_key) == (item.client_id, 2, True)
    assert body["items"][0] == staff_client.get(f"/api/connections/{item.id}").json()
    assert (item.last_message_at, item.created_at, item.last_connected_at) == (seen, conn.created_at, None)
