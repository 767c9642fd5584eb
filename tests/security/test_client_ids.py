"""Default client ids are random and stored; an existing id survives edits of other fields."""

from __future__ import annotations

import pytest

from mqtt_app.models import MqttConnection
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db


def test_new_connections_store_an_unguessable_client_id(make_connection):
    first, second = make_connection(client_id=""), make_connection(client_id="")
    ids = set(MqttConnection.objects.filter(pk__in=[first.pk, second.pk]).values_list("client_id", flat=True))
    assert len(ids) == 2
    for client_id in ids:
        assert client_id.startswith("mqttmon-") and len(client_id) <= 23
        assert client_id not in {f"mqttmon-{first.pk}", f"mqttmon-{second.pk}"}


def test_rows_made_in_bulk_get_one_too(make_site):
    site = make_site()
    MqttConnection.objects.bulk_create(MqttConnection(site=site, name=f"b{i}", host="h") for i in range(3))
    ids = list(MqttConnection.objects.filter(site=site).values_list("client_id", flat=True))
    assert len(set(ids)) == 3 and all(client_id.startswith("mqttmon-") for client_id in ids)


def test_an_api_created_connection_gets_one_and_keeps_it_across_edits(staff_client, make_site):
    created = post_json(staff_client, "/api/connections", {"site": make_site().pk, "name": "n", "host": "h"}).json()
    assert created["client_id"].startswith("mqttmon-") and created["client_id"] == created["effective_client_id"]
    changed = patch_json(staff_client, f"/api/connections/{created['id']}", {"port": 1884}).json()
    assert changed["client_id"] == created["client_id"]


def test_an_existing_id_is_kept_until_it_is_edited_and_clearing_it_draws_a_new_one(staff_client, make_connection):
    conn = make_connection()
    MqttConnection.objects.filter(pk=conn.pk).update(client_id=f"mqttmon-{conn.pk}")  # as migration 0009 pins it
    kept = patch_json(staff_client, f"/api/connections/{conn.pk}", {"keepalive": 30}).json()
    assert kept["client_id"] == f"mqttmon-{conn.pk}"
    cleared = patch_json(staff_client, f"/api/connections/{conn.pk}", {"client_id": ""}).json()
    assert cleared["client_id"].startswith("mqttmon-") and cleared["client_id"] != f"mqttmon-{conn.pk}"
