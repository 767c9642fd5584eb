"""The password and TLS client key never come back: not in any response, not in any log line."""

from __future__ import annotations

import logging

import pytest

from mqtt_app.models import ConnectionEvent, MqttConnectionLog
from tests.api.requests import SECRET, patch_json, post_json

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "-----BEGIN PRIVATE KEY----- secret-key-material"


def test_secrets_appear_in_no_response_and_no_log_line(staff_client, make_site, caplog):
    caplog.set_level(logging.DEBUG)
    site = make_site()
    bodies = []

    def keep(response):
        bodies.append(response.content.decode())
        return response

    created = keep(post_json(staff_client, "/api/connections", {
        "site": site.pk, "name": "n", "host": "h", "password": SECRET,
        "tls": {"enabled": True, "client_cert": "CERT", "client_key": KEY}}))  # fmt: skip
    conn_id = created.json()["id"]
    MqttConnectionLog.objects.create(connection_id=conn_id, event=ConnectionEvent.ERROR, detail="not authorised",
                                     created_at=created.json()["created_at"])  # fmt: skip
    keep(staff_client.get("/api/connections"))
    keep(staff_client.get(f"/api/connections/{conn_id}"))
    keep(staff_client.get(f"/api/connections/{conn_id}/events"))
    keep(patch_json(staff_client, f"/api/connections/{conn_id}", {"password": SECRET + "2", "port": 1884}))
    keep(patch_json(staff_client, f"/api/connections/{conn_id}", {"password": SECRET, "port": 99999}))
    keep(patch_json(staff_client, f"/api/connections/{conn_id}", {"password": 12, "tls": {"client_key": 5}}))
    keep(post_json(staff_client, f"/api/connections/{conn_id}/stop", {}))
    keep(post_json(staff_client, f"/api/connections/{conn_id}/start", {}))

    assert len(bodies) == 9
    for body in bodies:
        assert SECRET not in body
        assert "secret-key-material" not in body
        assert '"password":' not in body.replace(" ", "")  # the field itself is never output
        assert '"client_key":' not in body.replace(" ", "")
    assert caplog.records, "the API logged nothing at all: the log check would be vacuous"
    assert SECRET not in caplog.text
    assert "secret-key-material" not in caplog.text
