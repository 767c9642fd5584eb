"""What a connection may send to a broker: no control characters, and only allowed broker hosts."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from mqtt_app.models import MqttConnection
from mqtt_app.validators import host_matches
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "bob\x00"), ("password", "pw\nCONNECT"), ("client_id", "id\x1b[2J"), ("host", "broker\r.local")],
)
def test_control_characters_are_refused_by_the_api(staff_client, make_connection, field, value):
    conn = make_connection()
    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {field: value})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert value not in response.content.decode()  # never echoed (a password among them)


def test_pem_fields_keep_their_line_breaks_but_refuse_other_control_characters(staff_client, make_connection):
    conn = make_connection()
    good = patch_json(staff_client, f"/api/connections/{conn.pk}", {"tls": {"ca_certs": "-----BEGIN-----\r\nx\n"}})
    assert good.status_code == 200
    bad = patch_json(staff_client, f"/api/connections/{conn.pk}", {"tls": {"ca_certs": "x\x00y"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tls.ca_certs"


@pytest.mark.parametrize(
    ("host", "pattern", "matches"),
    [
        ("broker.example.com", "broker.example.com", True),
        ("BROKER.example.com.", "broker.example.com", True),
        ("a.sites.example.com", "*.sites.example.com", True),
        ("sites.example.com", "*.sites.example.com", False),
        ("evil.com", "*.sites.example.com", False),
        ("10.1.2.3", "10.1.0.0/16", True),
        ("10.2.0.1", "10.1.0.0/16", False),
        ("[2001:db8::5]", "2001:db8::/32", True),
        ("10.1.2.3", "10.1.2.3", True),
        ("internal.example.com", "10.0.0.0/8", False),  # a CIDR matches literal addresses only
        ("10.0.0.1", "*", False),  # a name wildcard never admits an address
    ],
)
def test_host_patterns(host, pattern, matches):
    assert host_matches(host, pattern) is matches


@override_settings(MQTT_ALLOWED_BROKER_HOSTS=["*.sites.example.com", "192.0.2.0/24"])
def test_the_allow_list_is_enforced_on_create_and_change_through_the_api(staff_client, make_site):
    site = make_site()
    refused = post_json(staff_client, "/api/connections", {"site": site.pk, "name": "n", "host": "127.0.0.1"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "host"
    assert "MQTT_ALLOWED_BROKER_HOSTS" in refused.json()["errors"][0]["message"]
    created = post_json(staff_client, "/api/connections", {"site": site.pk, "name": "n", "host": "a.sites.example.com"})
    assert created.status_code == 201
    moved = patch_json(staff_client, f"/api/connections/{created.json()['id']}", {"host": "redis.internal"})
    assert moved.status_code == 422
    assert MqttConnection.objects.get(pk=created.json()["id"]).host == "a.sites.example.com"
    assert (
        patch_json(staff_client, f"/api/connections/{created.json()['id']}", {"host": "192.0.2.7"}).status_code == 200
    )


@override_settings(MQTT_ALLOWED_BROKER_HOSTS=["*.sites.example.com"])
def test_the_allow_list_is_enforced_in_the_admin(admin_client, make_connection):
    conn = make_connection(host="a.sites.example.com")
    url = reverse("admin:mqtt_mqttconnection_change", args=[conn.pk])
    form = {
        "site": conn.site_id, "name": conn.name, "is_active": "on", "host": "169.254.169.254", "port": 1883,
        "protocol": "3.1.1", "keepalive": 60, "client_id": conn.client_id, "username": "", "password": "",
        "tls_ca_certs": "", "tls_client_cert": "", "tls_client_key": "", "topics": '[{"filter": "#", "qos": 1}]',
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert b"MQTT_ALLOWED_BROKER_HOSTS" in response.content
    assert MqttConnection.objects.get(pk=conn.pk).host == "a.sites.example.com"
