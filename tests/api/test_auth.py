"""Who may do what: anonymous → 401, a viewer of the site → 403 on changes, tokens and CSRF (roles in depth:
tests/security/test_access_matrix.py)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from mqtt_app.models import ApiToken, AuditEntry, MqttConnection
from tests.api.requests import patch_json, post_json

pytestmark = pytest.mark.django_db

READ_PATHS = ["/api/sites", "/api/sites/{site}", "/api/connections", "/api/connections/{conn}",
              "/api/connections/{conn}/events", "/api/topics", "/api/readings?connection={conn}",
              "/api/parsing-errors", "/api/parsers", "/api/tokens"]  # fmt: skip
CHANGES = [("post", "/api/sites", {"name": "x"}), ("patch", "/api/sites/{site}", {"name": "y"}),
           ("delete", "/api/sites/{site}", None), ("post", "/api/connections", {"site": 1, "name": "n", "host": "h"}),
           ("patch", "/api/connections/{conn}", {"port": 1884}), ("delete", "/api/connections/{conn}", None),
           ("post", "/api/connections/{conn}/start", None), ("post", "/api/connections/{conn}/stop", None),
           ("patch", "/api/topics/{topic}", {"is_processable": True})]  # fmt: skip


@pytest.fixture
def ids(make_connection, make_topic) -> dict[str, int]:
    conn = make_connection(is_active=False)
    return {"site": conn.site_id, "conn": conn.pk, "topic": make_topic(conn, "a/b").pk}


def _call(client: Client, method: str, path: str, data: object = None, **kwargs):
    if data is None:
        return getattr(client, method)(path, **kwargs)
    return getattr(client, method)(path, data, content_type="application/json", **kwargs)


@pytest.mark.parametrize("path", READ_PATHS)
def test_anonymous_reads_are_refused_with_401_and_a_json_error(anon_client, ids, path):
    response = anon_client.get(path.format(**ids))
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "data"), CHANGES)
def test_anonymous_changes_are_refused_with_401(anon_client, ids, method, path, data):
    assert _call(anon_client, method, path.format(**ids), data).status_code == 401


@pytest.mark.parametrize(("method", "path", "data"), CHANGES)
def test_a_viewers_changes_are_refused_with_403_and_change_nothing(viewer_client, ids, method, path, data):
    if data and "site" in data:
        data = {**data, "site": ids["site"]}
    response = _call(viewer_client, method, path.format(**ids), data)
    assert response.status_code == 403
    assert "needs" in response.json()["detail"]
    assert MqttConnection.objects.filter(pk=ids["conn"], is_active=False).exists()


@pytest.mark.parametrize("path", READ_PATHS)
def test_viewers_may_read(viewer_client, ids, path):
    assert viewer_client.get(path.format(**ids)).status_code == 200


def test_inactive_users_are_refused(viewer_user, viewer_client):
    viewer_user.is_active = False
    viewer_user.save()
    assert viewer_client.get("/api/sites").status_code == 401


def test_a_bearer_token_authenticates_a_staff_user(anon_client, staff_token):
    headers = {"Authorization": f"Bearer {staff_token}"}
    response = post_json(anon_client, "/api/sites", {"name": "By token"}, headers=headers)
    assert response.status_code == 201


def test_a_wrong_bearer_token_is_a_401_even_with_a_session(staff_client):
    response = staff_client.get("/api/sites", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_a_token_of_a_non_staff_user_reads_but_cannot_change(anon_client, viewer_user):
    headers = {"Authorization": f"Bearer {ApiToken.issue(viewer_user)}"}
    assert anon_client.get("/api/sites", headers=headers).status_code == 200
    assert post_json(anon_client, "/api/sites", {"name": "no"}, headers=headers).status_code == 403


def test_session_changes_need_the_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    refused = post_json(client, "/api/sites", {"name": "No CSRF"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/admin/")  # any page that sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = post_json(client, "/api/sites", {"name": "With CSRF"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_session_reads_need_no_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.get("/api/sites").status_code == 200


def test_mqtt_token_prints_a_token_that_replaces_the_previous_one_of_that_name(anon_client, staff_user):
    first, second, other = io.StringIO(), io.StringIO(), io.StringIO()
    call_command("mqtt_token", "staff", "--name", "ci", stdout=first, stderr=io.StringIO())
    call_command("mqtt_token", "staff", "--name", "grafana", stdout=other, stderr=io.StringIO())
    notes = io.StringIO()
    call_command("mqtt_token", "staff", "--name", "ci", stdout=second, stderr=notes)
    old, new = first.getvalue().strip(), second.getvalue().strip()
    assert old != new
    assert "replaced" in notes.getvalue()
    assert anon_client.get("/api/sites", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert anon_client.get("/api/sites", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    grafana = other.getvalue().strip()
    assert anon_client.get("/api/sites", headers={"Authorization": f"Bearer {grafana}"}).status_code == 200
    assert not ApiToken.objects.filter(key_hash=new).exists()  # only the hash is stored


def test_mqtt_token_creations_and_revocations_are_in_the_audit_trail(staff_user):
    call_command("mqtt_token", "staff", "--name", "ci", "--expires-days", "7", stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    call_command("mqtt_token", "staff", "--revoke", "ci", stdout=io.StringIO(), stderr=io.StringIO())
    entries = list(AuditEntry.objects.order_by("pk").values_list("username", "via", "action", "target"))
    assert [(who, via, action) for who, via, action, _ in entries] == [
        ("cli", "cli", "token.create"),
        ("cli", "cli", "token.revoke"),
    ]
    assert all("'ci'" in target and "of staff" in target for *_, target in entries)


def test_mqtt_token_for_an_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("mqtt_token", "ghost", stdout=io.StringIO())


def test_mqtt_token_help_says_a_token_of_the_same_name_is_replaced():
    from mqtt_app.management.commands.mqtt_token import Command

    assert "same --name is replaced" in Command.help


def test_patch_with_a_token_needs_no_csrf(staff_token, make_site):
    site = make_site()
    client = Client(enforce_csrf_checks=True)
    response = patch_json(client, f"/api/sites/{site.pk}", {"description": "d"},
                          headers={"Authorization": f"Bearer {staff_token}"})  # fmt: skip
    assert response.status_code == 200
