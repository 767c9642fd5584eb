"""The admin's connection form never shows a stored password or private key; empty keeps, "remove" clears."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mqtt_app.models import MqttConnection

pytestmark = pytest.mark.django_db
KEY = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def conn(make_connection):
    return make_connection(password="hunter2-broker", tls_client_cert="CERT", tls_client_key=KEY)


def form_of(conn: MqttConnection, **changes: str) -> dict:
    form = {
        "site": conn.site_id, "name": conn.name, "is_active": "on", "host": conn.host, "port": conn.port,
        "protocol": conn.protocol, "keepalive": conn.keepalive, "client_id": conn.client_id, "username": "u",
        "password": "", "tls_ca_certs": "", "tls_client_cert": "CERT", "tls_client_key": "",
        "topics": '[{"filter": "#", "qos": 1}]', "keep_raw_days": 0,
    }  # fmt: skip
    form.update(changes)
    return form


def test_the_change_form_shows_neither_the_password_nor_the_key(admin_client, conn):
    page = admin_client.get(reverse("admin:mqtt_mqttconnection_change", args=[conn.pk])).content.decode()
    assert "hunter2" not in page
    assert "c2VjcmV0LWtleS1tYXRlcmlhbA" not in page and "fernet:" not in page
    assert "leave empty to keep the stored password" in page and "A client key is stored." in page


def test_saving_with_empty_secret_fields_keeps_both(admin_client, conn):
    response = admin_client.post(reverse("admin:mqtt_mqttconnection_change", args=[conn.pk]), form_of(conn))
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = MqttConnection.objects.get(pk=conn.pk)
    assert (fresh.password, fresh.tls_client_key, fresh.username) == ("hunter2-broker", KEY, "u")


def test_new_values_replace_them_and_remove_clears_them(admin_client, conn):
    url = reverse("admin:mqtt_mqttconnection_change", args=[conn.pk])
    assert admin_client.post(url, form_of(conn, password="new-pw", tls_client_key="NEW KEY")).status_code == 302
    fresh = MqttConnection.objects.get(pk=conn.pk)
    assert (fresh.password, fresh.tls_client_key) == ("new-pw", "NEW KEY")
    cleared = form_of(conn, remove_password="on", remove_tls_client_key="on")
    assert admin_client.post(url, cleared).status_code == 302
    fresh = MqttConnection.objects.get(pk=conn.pk)
    assert (fresh.password, fresh.tls_client_key) == ("", "")
