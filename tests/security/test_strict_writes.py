"""Every request body is strict: a field the endpoint does not know is a 422 naming it, and nothing changes."""

from __future__ import annotations

import pytest

from mqtt_app.models import MqttConnection, MqttTopic
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db


def test_a_misspelt_topic_field_is_a_422_naming_it_and_changes_nothing(staff_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "plant/boiler")
    response = patch_json(staff_client, f"/api/topics/{topic.pk}", {"is_procesable": True})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "is_procesable", "message": "unknown field (this endpoint does not take it; check the spelling)"}
    ]
    assert "is_procesable" in response.json()["detail"]
    assert MqttTopic.objects.get(pk=topic.pk).is_processable is False


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/api/sites", {"name": "s", "colour": "red"}, "colour"),
        ("patch", "/api/sites/{site}", {"descripton": "x"}, "descripton"),
        ("post", "/api/connections", {"site": "{site}", "name": "n", "host": "h", "pasword": "x"}, "pasword"),
        ("patch", "/api/connections/{conn}", {"port": 1884, "is_actve": False}, "is_actve"),
        ("patch", "/api/connections/{conn}", {"tls": {"enabled": True, "clientkey": "x"}}, "tls.clientkey"),
        ("patch", "/api/topics/{topic}", {"parser": "senml"}, "parser"),
        ("post", "/api/parsers/plain_number/test", {"topic": "t", "payload": "1", "qos": 1}, "qos"),
        ("post", "/api/tokens", {"name": "ci", "expires": 3}, "expires"),
    ],
)
def test_every_write_endpoint_refuses_unknown_fields(
    staff_client, make_connection, make_topic, method, url, body, field
):
    conn = make_connection()
    topic = make_topic(conn, "plant/boiler")
    ids = {"site": conn.site_id, "conn": conn.pk, "topic": topic.pk}
    body = {
        key: (value.format(**ids) if isinstance(value, str) and "{" in value else value) for key, value in body.items()
    }
    if "site" in body:
        body["site"] = int(body["site"])
    send = post_json if method == "post" else patch_json
    response = send(staff_client, url.format(**ids), body)
    assert response.status_code == 422, response.content
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert MqttConnection.objects.get(pk=conn.pk).port == 1883  # nothing half-applied
