"""A site's managers see and revoke the API tokens of the people on their site, and of nobody else."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from mqtt_app.models import ApiToken, AuditEntry, Role, Site, SiteRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    """north: manager (mia), viewer (vic); south: viewer (sam); a superuser (root) with a role on north."""
    north, south = Site.objects.create(name="north"), Site.objects.create(name="south")
    make = get_user_model().objects.create_user
    users = {name: make(name, password="pw") for name in ("mia", "vic", "sam")}
    users["root"] = get_user_model().objects.create_superuser("root", password="pw")
    for name, site, role in (("mia", north, Role.MANAGER), ("vic", north, Role.VIEWER), ("sam", south, Role.VIEWER),
                             ("root", north, Role.VIEWER)):  # fmt: skip
        SiteRole.objects.create(user=users[name], site=site, role=role)
    for name, user in users.items():
        ApiToken.issue(user, f"{name}-script")
    return {"north": north, "south": south, **users}


def client_of(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def token_of(username: str) -> ApiToken:
    return ApiToken.objects.get(user__username=username)


def test_a_manager_lists_the_tokens_of_the_people_on_the_site_but_not_a_superusers(people):
    listed = client_of(people["mia"]).get(f"/api/sites/{people['north'].pk}/tokens")
    assert listed.status_code == 200
    assert [(t["user"], t["name"]) for t in listed.json()] == [("mia", "mia-script"), ("vic", "vic-script")]


def test_a_manager_revokes_a_viewers_token_and_the_sites_audit_trail_says_so(people):
    token = token_of("vic")
    assert client_of(people["mia"]).delete(f"/api/tokens/{token.pk}").status_code == 204
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    entry = AuditEntry.objects.get(action="token.revoke")
    assert (entry.username, entry.site_id) == ("mia", people["north"].pk)
    assert "of vic" in entry.target


@pytest.mark.parametrize("owner", ["sam", "root"])
def test_a_manager_cannot_revoke_tokens_of_another_sites_people_or_of_a_superuser(people, owner):
    token = token_of(owner)
    assert client_of(people["mia"]).delete(f"/api/tokens/{token.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists() and not AuditEntry.objects.exists()


def test_a_viewer_cannot_list_the_sites_tokens_nor_revoke_another_viewers(people):
    vic = client_of(people["vic"])
    assert vic.get(f"/api/sites/{people['north'].pk}/tokens").status_code == 403
    assert vic.get(f"/api/sites/{people['south'].pk}/tokens").status_code == 404
    assert vic.delete(f"/api/tokens/{token_of('mia').pk}").status_code == 404


def test_a_superuser_revokes_anyones_token(people):
    assert client_of(people["root"]).delete(f"/api/tokens/{token_of('sam').pk}").status_code == 204
    entry = AuditEntry.objects.get(action="token.revoke")
    assert entry.site_id == people["south"].pk
