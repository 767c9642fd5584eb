"""The audit trail: who changed what and when, with old and new values, never a secret's value; read through
/api/audit within the caller's sites; kept by retention."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from mqtt_app.ingest.retention import apply_retention
from mqtt_app.models import AuditEntry, Role, SiteRole
from tests.api.requests import SECRET, patch_json, post_json

pytestmark = pytest.mark.django_db
NEW_SECRET = "n3w-Pa55word-also-never-shown"


def test_a_connection_edit_records_old_and_new_values_but_never_a_secret(staff_client, make_connection):
    conn = make_connection(port=1883)

    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {"port": 1884, "password": NEW_SECRET})

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="connection.change")
    assert (entry.username, entry.via, entry.site_id, entry.connection_id) == ("staff", "api", conn.site_id, conn.pk)
    assert entry.changes == {"port": {"old": 1883, "new": 1884}, "password": {"old": "(set)", "new": "(set)"}}
    stored = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert SECRET not in stored and NEW_SECRET not in stored


def test_a_password_set_where_there_was_none_is_recorded_as_set(staff_client, make_connection):
    conn = make_connection(password="")
    response = patch_json(staff_client, f"/api/connections/{conn.pk}", {"password": NEW_SECRET})
    assert response.status_code == 200
    assert AuditEntry.objects.get().changes == {"password": {"old": "(empty)", "new": "(set)"}}


def test_start_stop_topic_parser_and_tokens_are_recorded(staff_client, make_connection, make_topic):
    conn = make_connection(is_active=False)
    topic = make_topic(conn, "plant/boiler")
    post_json(staff_client, f"/api/connections/{conn.pk}/start", {})
    post_json(staff_client, f"/api/connections/{conn.pk}/stop", {})
    patch_json(staff_client, f"/api/topics/{topic.pk}", {"parser_name": "plain_number"})
    token = post_json(staff_client, "/api/tokens", {"name": "grafana"}).json()
    staff_client.delete(f"/api/tokens/{token['id']}")

    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["connection.start", "connection.stop", "topic.change", "token.create", "token.revoke"]
    topic_entry = AuditEntry.objects.get(action="topic.change")
    assert topic_entry.changes["parser_name"] == {"old": "", "new": "plain_number"}
    assert token["token"] not in json.dumps(list(AuditEntry.objects.values("changes", "target")))


def test_the_audit_api_lists_only_the_callers_sites(viewer_client, viewer_user, make_connection, make_site):
    mine = make_connection()
    other_site = make_site()
    SiteRole.objects.filter(user=viewer_user, site=other_site).delete()
    theirs = make_connection(site=other_site)
    AuditEntry.objects.create(username="ann", action="connection.stop", site_id=mine.site_id, connection_id=mine.pk)
    AuditEntry.objects.create(username="bob", action="connection.stop", site_id=other_site.pk, connection_id=theirs.pk)
    AuditEntry.objects.create(username="bob", action="token.create", site_id=None)

    listed = viewer_client.get("/api/audit").json()["items"]
    filtered = viewer_client.get(f"/api/audit?connection={theirs.pk}").json()["items"]

    assert [item["user"] for item in listed] == ["ann"]
    assert filtered == []


def test_retention_deletes_entries_older_than_the_log_retention():
    old = AuditEntry.objects.create(action="connection.stop")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=40))
    kept = AuditEntry.objects.create(action="connection.start")

    with override_settings(MQTT_LOG_RETENTION_DAYS=30):
        deleted = apply_retention()

    assert deleted["AuditEntry"] == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [kept.pk]


def test_mqtt_grant_gives_changes_lists_and_revokes_a_role(viewer_user, make_site):
    site = make_site("North Plant")
    SiteRole.objects.filter(user=viewer_user).delete()
    out = io.StringIO()

    call_command("mqtt_grant", "viewer", "north-plant", "operator", stdout=out)
    call_command("mqtt_grant", "viewer", str(site.pk), "manager", stdout=out)
    call_command("mqtt_grant", "viewer", "--list", stdout=out)
    assert SiteRole.objects.get(user=viewer_user, site=site).role == Role.MANAGER
    call_command("mqtt_grant", "viewer", "North Plant", "--revoke", stdout=out)

    assert not SiteRole.objects.filter(user=viewer_user).exists()
    assert "viewer\tNorth Plant\tmanager" in out.getvalue()
    changes = list(AuditEntry.objects.order_by("id").values_list("action", "via", "changes"))
    assert changes == [
        ("role.grant", "cli", {"role": {"old": None, "new": "operator"}}),
        ("role.grant", "cli", {"role": {"old": "operator", "new": "manager"}}),
        ("role.revoke", "cli", {"role": {"old": "manager", "new": None}}),
    ]


def test_mqtt_grant_refuses_unknown_users_sites_and_roles(viewer_user, make_site):
    make_site("Depot")
    with pytest.raises(CommandError, match="No user"):
        call_command("mqtt_grant", "nobody", "depot", "viewer")
    with pytest.raises(CommandError, match="No site"):
        call_command("mqtt_grant", "viewer", "nowhere", "viewer")
    with pytest.raises(CommandError):
        call_command("mqtt_grant", "viewer", "depot", "owner")


def test_the_connection_page_has_a_changes_section_loading_from_the_api(viewer_client, make_connection):
    page = viewer_client.get(f"/connections/{make_connection().pk}/").content.decode()
    assert 'id="changes"' in page and "frontend/js/changes.js" in page
