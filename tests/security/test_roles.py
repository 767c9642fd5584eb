"""The rules of mqtt_app.access: roles include the ones below them, staff alone is nothing, superusers are all."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from mqtt_app import access
from mqtt_app.models import MqttConnection, MqttTopic, Role, SiteRole
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(django_user_model):
    return django_user_model.objects.create_user("pat", password="pw-pat", is_staff=True)


def test_staff_without_a_role_see_no_site(person, make_connection):
    make_connection()
    assert not access.sites_for(person).exists()
    assert not access.filter_for(person, MqttConnection.objects.all()).exists()
    assert access.connection_ids(person) == set()


def test_a_role_includes_the_ones_below_it_and_no_more(person, make_connection):
    conn = make_connection()
    SiteRole.objects.create(user=person, site=conn.site, role=Role.OPERATOR)

    assert access.require(person, conn, access.VIEWER) is conn
    assert access.require(person, conn, access.OPERATOR) is conn
    with pytest.raises(PermissionDenied, match="manager"):
        access.require(person, conn, access.MANAGER)


def test_another_sites_object_is_as_if_it_did_not_exist(person, make_connection, make_topic):
    conn = make_connection()
    with pytest.raises(Http404):
        access.require(person, make_topic(conn, "a/b"), access.VIEWER, "topic")
    assert not access.filter_for(person, MqttTopic.objects.all()).exists()


def test_superusers_see_and_change_everything(django_user_model, make_connection):
    root = django_user_model.objects.create_user("root", is_superuser=True)
    conn = make_connection()
    assert access.require(root, conn, access.MANAGER) is conn
    assert access.site_ids(root) is None


def test_an_inactive_user_holds_no_role(person, make_connection):
    conn = make_connection()
    SiteRole.objects.create(user=person, site=conn.site, role=Role.MANAGER)
    person.is_active = False
    assert not access.sites_for(person).exists()


def test_a_manager_cannot_move_a_connection_to_a_site_they_only_view(client, person, make_connection, make_site):
    conn = make_connection()
    viewed = make_site()
    SiteRole.objects.create(user=person, site=conn.site, role=Role.MANAGER)
    SiteRole.objects.create(user=person, site=viewed, role=Role.VIEWER)
    client.force_login(person)

    moved = patch_json(client, f"/api/connections/{conn.pk}", {"site": viewed.pk})
    unknown = post_json(client, "/api/connections", {"site": make_site().pk, "name": "n", "host": "h"})

    assert moved.status_code == 403 and "manager" in moved.json()["detail"]
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "site"
    assert MqttConnection.objects.get(pk=conn.pk).site_id == conn.site_id
