"""Sites CRUD through the API, validated like the admin."""

from __future__ import annotations

import pytest

from mqtt_app.models import Site
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db


def test_a_site_is_created_with_a_derived_slug(staff_client):
    response = post_json(staff_client, "/api/sites", {"name": "North Plant", "description": "boilers"})
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "north-plant"
    assert Site.objects.get(pk=body["id"]).description == "boilers"


def test_a_duplicate_site_name_is_a_422_naming_the_field(staff_client, make_site):
    make_site("Depot")
    response = post_json(staff_client, "/api/sites", {"name": "Depot"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name", "slug"]


def test_a_site_is_read_changed_and_deleted(staff_client, make_site):
    site = make_site("Old")
    assert staff_client.get(f"/api/sites/{site.pk}").json()["name"] == "Old"
    changed = patch_json(staff_client, f"/api/sites/{site.pk}", {"name": "New"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "New"
    assert staff_client.delete(f"/api/sites/{site.pk}").status_code == 204
    assert not Site.objects.filter(pk=site.pk).exists()


def test_a_site_with_connections_is_not_deleted(staff_client, make_connection):
    conn = make_connection()
    response = staff_client.delete(f"/api/sites/{conn.site_id}")
    assert response.status_code == 409
    assert "1 connection" in response.json()["detail"]
    assert Site.objects.filter(pk=conn.site_id).exists()


def test_an_unknown_site_is_a_404_in_the_error_format(staff_client):
    response = staff_client.get("/api/sites/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": []}


def test_a_null_name_is_a_422_naming_the_field(staff_client, make_site):
    response = patch_json(staff_client, f"/api/sites/{make_site().pk}", {"name": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_sites_are_listed_as_pages(staff_client, make_site):
    for name in ("a", "b", "c"):
        make_site(name)
    first = staff_client.get("/api/sites?limit=2").json()
    assert first["count"] == 3
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    second = staff_client.get(f"/api/sites?limit=2&offset={first['next_offset']}").json()
    assert [s["name"] for s in second["items"]] == ["c"]
    assert second["next_offset"] is None
