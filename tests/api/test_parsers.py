"""The parser registry over the API: the list with schemas, and a dry run that stores nothing."""

from __future__ import annotations

import base64

import pytest

from mqtt_app.models import MqttParsingLog, MqttTopic, TelemetryReading
from tests.api.requests import post_json

pytestmark = [pytest.mark.django_db]


def _stored() -> tuple[int, int, int]:
    return TelemetryReading.objects.count(), MqttParsingLog.objects.count(), MqttTopic.objects.count()


def test_every_registered_parser_is_listed_with_its_json_schema(viewer_client):
    from mqtt_app.parsers import get_registry

    body = viewer_client.get("/api/parsers").json()
    assert sorted(p["name"] for p in body) == sorted(get_registry().names())
    senml = next(p for p in body if p["name"] == "senml")
    assert senml["description"]
    assert senml["payload_schema"]


def test_a_dry_run_returns_the_readings_and_stores_nothing(viewer_client):
    before = _stored()
    response = post_json(viewer_client, "/api/parsers/plain_number/test",
                         {"topic": "home/kitchen/temperature", "payload": "21.5"})  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert [(r["device"], r["metric"], r["value"]) for r in body["readings"]] == [("kitchen", "temperature", 21.5)]
    assert _stored() == before


def test_a_dry_run_of_a_bad_payload_returns_the_validation_errors(viewer_client):
    response = post_json(viewer_client, "/api/parsers/senml/test",
                         {"topic": "senml/dev", "payload": '[{"n": "temp", "v": "warm"}]'})  # fmt: skip
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is False
    assert body["error"]["kind"] == "validation"
    assert body["error"]["location"]
    assert body["error"]["errors"][0]["msg"]
    assert MqttParsingLog.objects.count() == 0


def test_a_dry_run_can_use_a_topics_last_payload(viewer_client, make_connection, make_topic):
    topic = make_topic(make_connection(), "home/hall/humidity", last_payload=b"40")
    body = post_json(viewer_client, "/api/parsers/plain_number/test", {"topic_id": topic.pk}).json()
    assert body["topic"] == "home/hall/humidity"
    assert body["readings"][0]["value"] == 40.0


def test_a_dry_run_accepts_binary_payloads_as_base64(viewer_client):
    raw = base64.b64encode(b"\xff\xfe").decode()
    body = post_json(viewer_client, "/api/parsers/plain_number/test", {"topic": "a/b", "payload_base64": raw}).json()
    assert body["ok"] is False
    assert body["error"]["kind"] == "decode"


@pytest.mark.parametrize(
    ("data", "field"),
    [({"payload": "1"}, "topic"), ({"topic": "a/b"}, "payload"), ({"topic_id": 999999}, "topic_id"),
     ({"topic": "a", "payload_base64": "***"}, "payload_base64")],
)  # fmt: skip
def test_a_dry_run_without_enough_input_is_a_422_naming_the_field(viewer_client, data, field):
    response = post_json(viewer_client, "/api/parsers/plain_number/test", data)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_a_dry_run_of_an_unknown_parser_is_a_404(viewer_client):
    response = post_json(viewer_client, "/api/parsers/nope/test", {"topic": "a", "payload": "1"})
    assert response.status_code == 404
    assert "plain_number" in response.json()["detail"]


def test_a_dry_run_of_binary_payloads_sparkplug_and_senml_cbor(viewer_client):
    import cbor2

    from tests.sparkplug.payloads import NODE_METRICS, nbirth

    birth = base64.b64encode(nbirth(1, *NODE_METRICS)).decode()
    response = post_json(viewer_client, "/api/parsers/sparkplug/test",
                         {"topic": "spBv1.0/Boilers/NBIRTH/edge1", "payload_base64": birth})  # fmt: skip
    body = response.json()
    assert body["ok"] is True, body
    assert [(r["device"], r["metric"], r["unit"]) for r in body["readings"]] == [
        ("edge1", "Node Control/Rebirth", ""),
        ("edge1", "Supply/Temperature", "Cel"),
        ("edge1", "Supply/Pressure", "bar"),
    ]
    pack = base64.b64encode(cbor2.dumps([{-2: "/3303/0/", 0: "5700", 2: 21.5}])).decode()
    body = post_json(viewer_client, "/api/parsers/senml/test", {"topic": "gw/senml", "payload_base64": pack}).json()
    assert [(r["metric"], r["value"]) for r in body["readings"]] == [("/3303/0/5700", 21.5)]
