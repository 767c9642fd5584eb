"""Logins are throttled per user and per address; password reset exists only with a mail server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password="right-password-1")


def attempt(username: str, password: str, address: str) -> int:
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password}).status_code


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_user_is_locked_after_repeated_failures_from_any_address(alice):
    assert attempt("alice", "wrong", "198.51.100.1") == 200  # the form again, with an error
    assert attempt("alice", "wrong", "198.51.100.2") == 200
    assert attempt("alice", "wrong", "198.51.100.3") == 429  # the third failure locks
    # Even the right password from a fresh address: the account is locked for the cool-off.
    assert attempt("alice", "right-password-1", "203.0.113.9") == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_an_address_is_locked_after_failures_across_many_users(alice):
    assert attempt("bob", "guess", "198.51.100.7") == 200
    assert attempt("carol", "guess", "198.51.100.7") == 200
    assert attempt("dave", "guess", "198.51.100.7") == 429
    assert attempt("alice", "right-password-1", "198.51.100.7") == 429
    assert attempt("alice", "right-password-1", "198.51.100.8") == 302  # another address still logs in


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_success_before_the_limit_resets_the_count(alice):
    assert attempt("alice", "wrong", "198.51.100.1") == 200
    assert attempt("alice", "wrong", "198.51.100.1") == 200
    assert attempt("alice", "right-password-1", "198.51.100.1") == 302
    assert attempt("alice", "wrong", "198.51.100.1") == 200
    assert attempt("alice", "right-password-1", "198.51.100.1") == 302


def test_the_admin_login_is_throttled_too(alice):
    alice.is_staff = True
    alice.save()
    with override_settings(AXES_FAILURE_LIMIT=2):
        for _ in range(2):
            Client(REMOTE_ADDR="192.0.2.1").post("/admin/login/", {"username": "alice", "password": "no"})
        response = Client(REMOTE_ADDR="192.0.2.2").post(
            "/admin/login/", {"username": "alice", "password": "right-password-1"}
        )
    assert response.status_code == 429


@override_settings(EMAIL_HOST="")
def test_password_reset_pages_answer_404_without_a_mail_server(anon_client):
    for url in ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/MQ/set-password/",
                "/accounts/reset/done/"):  # fmt: skip
        assert anon_client.get(url).status_code == 404, url
    assert anon_client.post("/accounts/password_reset/", {"email": "a@example.com"}).status_code == 404
    assert anon_client.get(LOGIN).status_code == 200


@override_settings(EMAIL_HOST="smtp.example.com", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_password_reset_works_with_a_mail_server(anon_client, alice):
    from django.core import mail

    alice.email = "alice@example.com"
    alice.save()
    assert anon_client.get("/accounts/password_reset/").status_code == 200
    response = anon_client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
