"""The API tests' fixtures: users of each kind, clients logged in as them, and small object factories (used by
tests/api and tests/security through their conftest.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mqtt_app.models import ApiToken, MqttConnection, MqttTopic, Role, Site, SiteRole
from tests.api.requests import SECRET

__all__ = [
    "anon_client",
    "make_connection",
    "make_site",
    "make_topic",
    "staff_client",
    "staff_token",
    "staff_user",
    "viewer_client",
    "viewer_user",
]
_numbers = itertools.count(1)


@pytest.fixture
def staff_user(django_user_model):
    """A superuser: every role on every site (staff without a role see nothing; tests/security covers roles)."""
    return django_user_model.objects.create_user("staff", password="pw-staff", is_staff=True, is_superuser=True)


@pytest.fixture
def viewer_user(django_user_model):
    """A viewer of every site the factories below make (not of sites created through the API)."""
    return django_user_model.objects.create_user("viewer", password="pw-viewer")


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def viewer_client(viewer_user) -> Client:
    client = Client()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def anon_client() -> Client:
    return Client()


@pytest.fixture
def staff_token(staff_user) -> str:
    return ApiToken.issue(staff_user)


@pytest.fixture
def make_site(request):
    def make(name: str | None = None) -> Site:
        site = Site.objects.create(name=name or f"site {next(_numbers)}")
        if "viewer_user" in request.fixturenames:
            SiteRole.objects.create(user=request.getfixturevalue("viewer_user"), site=site, role=Role.VIEWER)
        return site

    return make


@pytest.fixture
def make_connection(make_site):
    def make(site: Site | None = None, **fields) -> MqttConnection:
        fields.setdefault("name", f"conn {next(_numbers)}")
        fields.setdefault("host", "127.0.0.1")
        fields.setdefault("password", SECRET)
        return MqttConnection.objects.create(site=site or make_site(), **fields)

    return make


@pytest.fixture
def make_topic():
    def make(connection: MqttConnection, topic: str, **fields) -> MqttTopic:
        now = timezone.now()
        fields.setdefault("first_seen_at", now - timedelta(hours=1))
        fields.setdefault("last_seen_at", now)
        return MqttTopic.objects.create(connection=connection, topic=topic, **fields)

    return make
