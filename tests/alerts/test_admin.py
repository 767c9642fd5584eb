"""Alert rules in the admin: a manager edits them (in the audit trail); a viewer of the site sees a rule without
its channels' targets."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mqtt_app.models import AuditEntry, Role, SiteRole

pytestmark = pytest.mark.django_db


def _staff(django_user_model, site, role: str) -> Client:
    user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
    SiteRole.objects.create(user=user, site=site, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_a_manager_changes_a_rule_in_the_admin_and_a_viewer_sees_no_target(django_user_model, site, make_rule):
    rule = make_rule("connection_down", channels=[("webhook", "https://hooks.example.com/t0ken")])
    url = reverse("admin:mqtt_alertrule_change", args=[rule.pk])
    viewer_page = _staff(django_user_model, site, Role.VIEWER).get(url)
    assert viewer_page.status_code == 200 and "t0ken" not in viewer_page.content.decode()

    manager = _staff(django_user_model, site, Role.MANAGER)
    assert "t0ken" in manager.get(url).content.decode()
    channel = rule.channels.get()
    form = {"name": "renamed", "kind": "connection_down", "site": str(site.pk), "connection": "", "topic": "",
            "filter": "", "metric": "", "op": "", "value": "", "clear_value": "", "for_seconds": "90",
            "is_enabled": "on", "channels-TOTAL_FORMS": "1", "channels-INITIAL_FORMS": "1",
            "channels-MIN_NUM_FORMS": "0", "channels-MAX_NUM_FORMS": "1000", "channels-0-id": str(channel.pk),
            "channels-0-rule": str(rule.pk), "channels-0-type": "webhook",
            "channels-0-target": channel.target}  # fmt: skip
    response = manager.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="alert_rule.change")
    assert (entry.via, entry.username) == ("admin", "manager")
    assert entry.changes == {"name": {"old": "connection_down rule", "new": "renamed"},
                             "for_seconds": {"old": 60, "new": 90}}  # fmt: skip
