"""The admin works on day one; its start/stop actions change `is_active` and nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from mqtt_app.models import ConnectionStatus, MqttConnection, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def connections():
    site = Site.objects.create(name="S")
    return [
        MqttConnection.objects.create(site=site, name=f"c{i}", host="h", is_active=False, status="stopped")
        for i in range(3)
    ]


@pytest.mark.parametrize(
    "name", ["site", "mqttconnection", "mqtttopic", "telemetryreading", "mqttparsinglog", "mqttconnectionlog"]
)
def test_every_model_has_a_working_admin_list_under_admin_mqtt(admin_client, connections, name):
    response = admin_client.get(f"/admin/mqtt/{name}/")
    assert response.status_code == 200


def test_the_connection_change_page_never_shows_the_password(admin_client, connections):
    connection = connections[0]
    connection.password = "s3cret-broker-pw"
    connection.save()
    response = admin_client.get(reverse("admin:mqtt_mqttconnection_change", args=[connection.pk]))
    assert response.status_code == 200
    assert b"s3cret-broker-pw" not in response.content


def test_start_selected_only_sets_is_active(admin_client, connections, django_capture_on_commit_callbacks):
    before = {c.pk: (c.status, c.listener, c.status_detail) for c in connections}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            "/admin/mqtt/mqttconnection/",
            {"action": "start_selected", "_selected_action": [c.pk for c in connections[:2]]},
        )
    assert response.status_code == 302
    rows = {c.pk: c for c in MqttConnection.objects.all()}
    assert [rows[c.pk].is_active for c in connections] == [True, True, False]
    assert {pk: (r.status, r.listener, r.status_detail) for pk, r in rows.items()} == before
    assert rows[connections[0].pk].status == ConnectionStatus.STOPPED
    assert len(callbacks) == 1  # one reconcile request, enqueued only after commit


def test_stop_selected_only_clears_is_active(admin_client, connections):
    MqttConnection.objects.update(is_active=True)
    admin_client.post(
        "/admin/mqtt/mqttconnection/",
        {"action": "stop_selected", "_selected_action": [connections[1].pk]},
    )
    assert list(MqttConnection.objects.order_by("name").values_list("is_active", flat=True)) == [True, False, True]


def _add_form(site_pk: int, **overrides) -> dict:
    form = {
        "site": site_pk,
        "name": "new",
        "is_active": "on",
        "host": "broker.local",
        "port": "1883",
        "protocol": "3.1.1",
        "keepalive": "60",
        "client_id": "",
        "username": "u",
        "password": "pw-1",
        "tls_ca_certs": "",
        "tls_client_cert": "",
        "tls_client_key": "",
        "topics": '[{"filter": "a/#", "qos": 1}]',
        "keep_raw_days": 0,
    }
    return form | overrides


def test_adding_a_connection_in_the_admin_stores_it_with_its_password(admin_client, connections):
    site = connections[0].site
    response = admin_client.post("/admin/mqtt/mqttconnection/add/", _add_form(site.pk))
    assert response.status_code == 302, response.content[:2000]
    created = MqttConnection.objects.get(name="new")
    assert (created.host, created.password, created.topics) == ("broker.local", "pw-1", [{"filter": "a/#", "qos": 1}])


def test_a_bad_port_or_topic_filter_in_the_admin_form_is_shown_and_nothing_is_saved(admin_client, connections):
    site = connections[0].site
    response = admin_client.post(
        "/admin/mqtt/mqttconnection/add/", _add_form(site.pk, port="70000", topics='[{"filter": "a/#/b"}]')
    )
    assert response.status_code == 200
    assert b"less than or equal to 65535" in response.content
    assert b"must be a whole level and the last one" in response.content
    assert not MqttConnection.objects.filter(name="new").exists()


def test_saving_without_a_password_keeps_the_stored_one(admin_client, connections):
    connection = connections[0]
    connection.password = "keep-me"
    connection.save()
    form = _add_form(connection.site.pk, name=connection.name, password="")
    response = admin_client.post(f"/admin/mqtt/mqttconnection/{connection.pk}/change/", form)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.password == "keep-me"


def test_a_discovered_topic_cannot_be_renamed_or_moved_only_its_parsing_set(admin_client, connections):
    from django.utils import timezone

    from mqtt_app.models import MqttTopic

    now = timezone.now()
    topic = MqttTopic.objects.create(
        connection=connections[0], topic="a/b", parser_name="plain_number", first_seen_at=now, last_seen_at=now
    )
    url = f"/admin/mqtt/mqtttopic/{topic.pk}/change/"
    form = {"connection": connections[1].pk, "topic": "renamed", "parser_name": "generic_json"}

    response = admin_client.post(url, form)

    assert response.status_code == 302
    topic.refresh_from_db()
    assert (topic.connection_id, topic.topic) == (connections[0].pk, "a/b")
    assert topic.parser_name == "generic_json" and topic.is_processable is False  # unchecked box: off
