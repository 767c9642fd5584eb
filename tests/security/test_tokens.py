"""API tokens: named, several per user, with an expiry and last use, revocable by their owner only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from mqtt_app.models import ApiToken
from tests.api.requests import post_json

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def test_an_owner_creates_lists_and_revokes_tokens(viewer_client, viewer_user, anon_client):
    created = post_json(viewer_client, "/api/tokens", {"name": "grafana", "expires_in_days": 30})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "grafana" and body["prefix"] == body["token"][:8]
    left = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) - timezone.now()
    assert timedelta(days=29) < left <= timedelta(days=30)
    assert anon_client.get("/api/sites", headers=bearer(body["token"])).status_code == 200
    listed = viewer_client.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["grafana"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None  # the request above used it
    assert viewer_client.delete(f"/api/tokens/{body['id']}").status_code == 204
    assert anon_client.get("/api/sites", headers=bearer(body["token"])).status_code == 401


def test_a_token_can_revoke_itself_but_cannot_mint_more(viewer_user, anon_client):
    raw = ApiToken.issue(viewer_user, "script")
    token = ApiToken.objects.get(user=viewer_user, name="script")
    minted = post_json(anon_client, "/api/tokens", {"name": "more"}, headers=bearer(raw))
    assert minted.status_code == 401
    assert anon_client.delete(f"/api/tokens/{token.pk}", headers=bearer(raw)).status_code == 204
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_another_users_token_is_invisible_and_cannot_be_revoked(viewer_client, staff_user):
    ApiToken.issue(staff_user, "theirs")
    theirs = ApiToken.objects.get(user=staff_user)
    assert viewer_client.get("/api/tokens").json() == []
    assert viewer_client.delete(f"/api/tokens/{theirs.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_an_expired_token_is_refused(viewer_user, anon_client):
    raw = ApiToken.issue(viewer_user, "short", timezone.now() + timedelta(days=1))
    assert anon_client.get("/api/sites", headers=bearer(raw)).status_code == 200
    ApiToken.objects.filter(user=viewer_user).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert anon_client.get("/api/sites", headers=bearer(raw)).status_code == 401
    assert ApiToken.objects.get(user=viewer_user).expired


def test_names_are_unique_per_user_but_not_across_users(viewer_client, staff_user):
    assert post_json(viewer_client, "/api/tokens", {"name": "ci"}).status_code == 201
    assert post_json(viewer_client, "/api/tokens", {"name": "ci"}).status_code == 409
    ApiToken.issue(staff_user, "ci")
    assert ApiToken.objects.filter(name="ci").count() == 2


def test_an_inactive_users_tokens_stop_working(anon_client):
    user = get_user_model().objects.create_user("leaver", password="pw-leaver")
    raw = ApiToken.issue(user, "x")
    user.is_active = False
    user.save()
    assert anon_client.get("/api/sites", headers=bearer(raw)).status_code == 401


def test_creating_a_token_with_the_session_needs_the_csrf_token(viewer_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer_user)
    assert post_json(client, "/api/tokens", {"name": "x"}).status_code == 403
