"""The group → edge node → device tree, in the API and on the connection page, for the connection's site only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttConnection, Role, Site, SiteRole
from tests.ingest.batches import make_batch

from .payloads import NODE_METRICS, PUMP_METRICS, nbirth, payload

pytestmark = pytest.mark.django_db(transaction=True)


def viewer_of(site: Site, name: str = "viewer") -> Client:
    user = get_user_model().objects.create_user(name, password="pw")
    SiteRole.objects.create(user=user, site=site, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boilers(connection):
    messages = [
        ("spBv1.0/Boilers/NBIRTH/edge1", nbirth(4, *NODE_METRICS)),
        ("spBv1.0/Boilers/DBIRTH/edge1/pump", payload(*PUMP_METRICS, seq=1)),
        ("spBv1.0/Boilers/DDATA/edge1/pump", payload(seq=5)),  # 2 to 4 lost: a gap
        ("spBv1.0/Boilers/DDEATH/edge1/pump", payload(seq=6)),
        ("spBv1.0/STATE/scada", b'{"online": true, "timestamp": 1700000000000}'),
    ]
    ingest_batch(make_batch(connection.pk, messages))
    return connection


def test_the_api_gives_the_tree_with_states_births_and_gaps(boilers):
    tree = viewer_of(boilers.site).get(f"/api/connections/{boilers.pk}/sparkplug").json()

    (group,) = tree["groups"]
    (edge,) = group["edge_nodes"]
    (pump,) = edge["devices"]
    assert (group["group"], edge["edge_node"], edge["is_online"], edge["bd_seq"], edge["seq_gaps"]) == (
        "Boilers", "edge1", True, 4, 1,
    )  # fmt: skip
    assert edge["births"] == 1 and edge["last_birth_at"]
    assert (pump["device"], pump["is_online"], pump["births"], pump["last_death_at"] is not None) == (
        "pump", False, 1, True,
    )  # fmt: skip
    assert pump["metrics"][0] == {"name": "Speed", "alias": 10, "datatype": "Int32", "unit": "rpm"}
    assert [(h["host"], h["is_online"]) for h in tree["hosts"]] == [("scada", True)]


def test_another_sites_viewer_gets_not_found(boilers):
    other = Site.objects.create(name="Elsewhere")
    response = viewer_of(other).get(f"/api/connections/{boilers.pk}/sparkplug")
    assert response.status_code == 404


def test_a_connection_without_sparkplug_has_an_empty_tree_and_no_section_on_its_page(connection):
    client = viewer_of(connection.site)
    assert client.get(f"/api/connections/{connection.pk}/sparkplug").json()["groups"] == []
    assert 'id="sparkplug-tree"' not in client.get(f"/connections/{connection.pk}/").content.decode()


def test_the_connection_page_shows_the_tree(boilers):
    page = viewer_of(boilers.site).get(f"/connections/{boilers.pk}/").content.decode()

    assert 'id="sparkplug-tree"' in page
    assert 'data-edge-node="edge1"' in page and 'data-device="pump"' in page
    assert '<span class="sp-gaps">1</span>' in page
    assert "scada" in page


def test_a_deleted_connection_takes_its_sparkplug_state_with_it(boilers):
    MqttConnection.objects.filter(pk=boilers.pk).delete()
    from mqtt_app.models import SparkplugHost, SparkplugNode

    assert not SparkplugNode.objects.exists() and not SparkplugHost.objects.exists()


def test_the_readings_api_names_sparkplug_readings_as_the_births_do(boilers):
    body = viewer_of(boilers.site).get(f"/api/readings?connection={boilers.pk}&limit=100").json()

    named = {(item["device"], item["metric"]) for item in body["items"]}
    assert {("edge1", "Supply/Temperature"), ("pump", "Speed"), ("pump", "Mode")} <= named
    assert all(not metric.isdigit() for _, metric in named)  # no alias leaks through as a name
