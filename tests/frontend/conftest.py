"""Fixtures for the web UI tests: users, a site with connections, a logged-in session cookie."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mqtt_app.models import MqttConnection, Role, Site, SiteRole


@pytest.fixture
def staff_user(transactional_db):
    # A superuser: every site (roles per site: tests/security/test_access_matrix.py).
    return get_user_model().objects.create_user("staff", password="staff-pass", is_staff=True, is_superuser=True)


@pytest.fixture
def viewer_user(transactional_db):
    return get_user_model().objects.create_user("viewer", password="viewer-pass")


@pytest.fixture
def site(transactional_db, request) -> Site:
    site = Site.objects.create(name="Plant North")
    if "viewer_user" in request.fixturenames:  # the viewer views this site
        SiteRole.objects.create(user=request.getfixturevalue("viewer_user"), site=site, role=Role.VIEWER)
    return site


@pytest.fixture
def connections(site) -> list[MqttConnection]:
    return [
        MqttConnection.objects.create(site=site, name=f"line-{n}", host="127.0.0.1", port=1883 + n, is_active=False)
        for n in range(3)
    ]
