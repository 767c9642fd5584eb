"""The alerting API: rules exactly as documented (strict bodies, 422 naming the field), alerts firing first,
acknowledgement by operators, targets and secrets for managers only, every change in the audit trail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mqtt_app.alerts.models import Alert, AlertRule
from mqtt_app.models import AuditEntry, Role, SiteRole

pytestmark = pytest.mark.django_db


def client_with(django_user_model, site, role: str) -> Client:
    user = django_user_model.objects.create_user(role, password="pw")
    SiteRole.objects.create(user=user, site=site, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager(django_user_model, site) -> Client:
    return client_with(django_user_model, site, Role.MANAGER)


@pytest.fixture
def viewer(django_user_model, site) -> Client:
    return client_with(django_user_model, site, Role.VIEWER)


def post(client: Client, path: str, body: object) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_manager_creates_a_rule_in_the_documented_shape(manager, connection):
    body = {"name": "broker down", "kind": "connection_down", "connection": connection.pk, "for_seconds": 5,
            "channels": [{"type": "webhook", "url": "https://hooks.example.com/x"},
                         {"type": "email", "to": "ops@example.com"},
                         {"type": "apprise", "url": "ntfy://mqttmon-alerts"}]}  # fmt: skip
    response = post(manager, "/api/alert-rules", body)
    assert response.status_code == 201, response.content
    rule = response.json()
    scope = (rule["site"], rule["connection"], rule["topic"], rule["for_seconds"])
    assert scope == (connection.site_id, connection.pk, None, 5)
    webhook, email, chat = rule["channels"]
    assert webhook["url"] == "https://hooks.example.com/x" and len(webhook["secret"]) > 30
    assert email["to"] == "ops@example.com" and chat["url"] == "ntfy://mqttmon-alerts"
    entry = AuditEntry.objects.get(action="alert_rule.create")
    assert entry.changes["channels"]["new"] == ["webhook", "email", "apprise"]
    assert "hooks.example.com" not in json.dumps(entry.changes)


def test_a_viewer_reads_rules_without_their_targets_and_cannot_change_them(manager, viewer, site):
    rule = post(manager, "/api/alert-rules", {"name": "r", "kind": "connection_down", "site": site.pk,
                "channels": [{"type": "webhook", "url": "https://h.example.com/t0ken"}]}).json()  # fmt: skip
    seen = viewer.get(f"/api/alert-rules/{rule['id']}")
    assert seen.status_code == 200 and "t0ken" not in seen.content.decode()
    assert seen.json()["channels"] == [{"id": rule["channels"][0]["id"], "type": "webhook", "url": None, "to": None,
                                        "secret": None}]  # fmt: skip
    patch = viewer.patch(f"/api/alert-rules/{rule['id']}", json.dumps({"name": "x"}), content_type="application/json")
    assert patch.status_code == 403
    created = post(viewer, "/api/alert-rules", {"name": "v", "kind": "connection_down", "site": site.pk})
    assert created.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "r", "kind": "connection_down", "site": "{site}", "colour": "red"}, "colour"),
        ({"name": "r", "kind": "loud", "site": "{site}"}, "kind"),
        ({"name": "r", "kind": "connection_down"}, "site"),
        ({"name": "r", "kind": "connection_down", "site": "{site}", "connection": "{conn}"}, "site"),
        ({"name": "r", "kind": "threshold", "site": "{site}", "op": "gt", "value": 3}, "metric"),
        (
            {
                "name": "r",
                "kind": "threshold",
                "site": "{site}",
                "metric": "t",
                "op": "gt",
                "value": 3,
                "clear_value": 5,
            },
            "clear_value",
        ),  # fmt: skip
        ({"name": "r", "kind": "parse_errors", "site": "{site}", "value": 2}, "value"),
        ({"name": "r", "kind": "topic_silent", "site": "{site}", "filter": "a/#/b"}, "filter"),
        ({"name": "r", "kind": "connection_down", "site": 999999}, "site"),
        ({"name": "r", "kind": "connection_down", "site": "{site}", "for_seconds": -1}, "for_seconds"),
        (
            {
                "name": "r",
                "kind": "connection_down",
                "site": "{site}",
                "channels": [{"type": "webhook", "url": "ftp://x"}],
            },
            "channels.0.url",
        ),  # fmt: skip
        (
            {"name": "r", "kind": "connection_down", "site": "{site}", "channels": [{"type": "email", "to": "nobody"}]},
            "channels.0.to",
        ),  # fmt: skip
        (
            {
                "name": "r",
                "kind": "connection_down",
                "site": "{site}",
                "channels": [{"type": "apprise", "url": "zz://"}],
            },
            "channels.0.url",
        ),  # fmt: skip
        (
            {"name": "r", "kind": "connection_down", "site": "{site}", "channels": [{"type": "sms", "to": "1"}]},
            "channels.0.type",
        ),  # fmt: skip
    ],
)
def test_a_bad_rule_is_a_422_naming_the_field(manager, connection, body, field):
    filled = {k: {"{site}": connection.site_id, "{conn}": connection.pk}.get(v, v) if isinstance(v, str) else v
              for k, v in body.items()}  # fmt: skip
    response = post(manager, "/api/alert-rules", filled)
    assert response.status_code == 422, response.content
    assert field in [error["field"] for error in response.json()["errors"]], response.json()
    assert AlertRule.objects.count() == 0


def test_patch_changes_only_what_it_names_and_delete_removes_the_rule(manager, site):
    rule = post(manager, "/api/alert-rules", {"name": "r", "kind": "threshold", "site": site.pk, "metric": "t",
                                               "op": "gt", "value": 30, "clear_value": 25}).json()  # fmt: skip
    path = f"/api/alert-rules/{rule['id']}"
    changed = manager.patch(path, json.dumps({"value": 40, "for_seconds": 120}), content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["value"], changed.json()["clear_value"], changed.json()["for_seconds"]) == (40, 25, 120)
    entry = AuditEntry.objects.get(action="alert_rule.change")
    assert entry.changes == {"value": {"old": 30.0, "new": 40.0}, "for_seconds": {"old": 60, "new": 120}}
    assert manager.delete(path).status_code == 204
    assert manager.get(path).status_code == 404
    assert AuditEntry.objects.filter(action="alert_rule.delete").count() == 1


def _alert(rule: AlertRule, key: str, state: str, minutes_ago: int) -> Alert:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    resolved = at if state == "resolved" else None
    return Alert.objects.create(rule=rule, site_id=rule.site_id, subject_key=key, subject=key, state=state,
                                since=at, fired_at=at, resolved_at=resolved)  # fmt: skip


def test_alerts_are_listed_firing_first_and_filtered_by_state_and_site(viewer, make_rule, site):
    rule = make_rule("connection_down")
    _alert(rule, "old-firing", "firing", 50)
    _alert(rule, "acked", "acknowledged", 1)
    _alert(rule, "new-firing", "firing", 2)
    _alert(rule, "resolved", "resolved", 0)
    listed = viewer.get(f"/api/alerts?site={site.pk}").json()
    assert [item["subject"] for item in listed["items"]] == ["new-firing", "old-firing", "acked", "resolved"]
    firing = viewer.get("/api/alerts?state=firing&limit=1").json()
    assert firing["count"] == 2
    assert viewer.get("/api/alerts?state=open").json()["count"] == 3
    assert viewer.get("/api/alerts?state=loud").status_code == 422


def test_an_operator_acknowledges_a_firing_alert_and_a_viewer_cannot(django_user_model, viewer, make_rule, site):
    operator = client_with(django_user_model, site, Role.OPERATOR)
    alert = _alert(make_rule("connection_down"), "c", "firing", 1)
    path = f"/api/alerts/{alert.pk}/acknowledge"
    assert viewer.post(path).status_code == 403
    answer = operator.post(path)
    assert answer.status_code == 200, answer.content
    assert (answer.json()["state"], answer.json()["acknowledged_by"]) == ("acknowledged", "operator")
    assert operator.post(path).status_code == 409
    entry = AuditEntry.objects.get(action="alert.acknowledge")
    assert (entry.username, entry.site_id) == ("operator", site.pk)


def test_send_test_posts_to_each_channel_and_reports_each_result(manager, site, receiver):
    channels = [{"type": "webhook", "url": receiver.url}, {"type": "webhook", "url": "http://127.0.0.1:9/nowhere"}]
    body = {"name": "r", "kind": "connection_down", "site": site.pk, "channels": channels}
    rule = post(manager, "/api/alert-rules", body).json()
    result = manager.post(f"/api/alert-rules/{rule['id']}/test")
    assert result.status_code == 200, result.content
    assert [(c["ok"], bool(c["error"])) for c in result.json()["channels"]] == [(True, False), (False, True)]
    (request,) = receiver.wait_for(lambda got: len(got) >= 1)
    assert request.json()["state"] == "test" and request.json()["rule"]["id"] == rule["id"]
