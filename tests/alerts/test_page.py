"""The alerts page and the firing badges: a shell whose data comes from the API, with the rule editor for the
managers of a site only, and a badge on every page (nav) and on connection and topic pages."""

from __future__ import annotations

import pytest
from django.test import Client

from mqtt_app.models import Role, SiteRole

pytestmark = pytest.mark.django_db


def _client(django_user_model, site, role: str) -> Client:
    user = django_user_model.objects.create_user(role, password="pw")
    SiteRole.objects.create(user=user, site=site, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_the_alerts_page_offers_the_rule_editor_to_managers_only(django_user_model, site, connection):
    viewer = _client(django_user_model, site, Role.VIEWER).get("/alerts/")
    manager = _client(django_user_model, site, Role.MANAGER).get("/alerts/")
    assert viewer.status_code == manager.status_code == 200
    assert 'id="rule-form"' not in viewer.content.decode()
    page = manager.content.decode()
    assert 'id="rule-form"' in page and f'value="connection:{connection.pk}"' in page


def test_connection_and_topic_pages_carry_a_firing_badge_of_their_own(django_user_model, site, make_topic):
    client = _client(django_user_model, site, Role.VIEWER)
    topic = make_topic("site/t")
    connection_page = client.get(f"/connections/{topic.connection_id}/").content.decode()
    topic_page = client.get(f"/topics/{topic.pk}/").content.decode()
    assert f'data-alert-badge="connection={topic.connection_id}"' in connection_page
    assert f'data-alert-badge="topic={topic.pk}"' in topic_page
    dashboard = client.get("/").content.decode()
    assert 'data-alert-badge=""' in dashboard and "alert_badges.js" in dashboard
