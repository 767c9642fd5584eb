"""A rule deleted (the API, the admin, its bulk delete) or disabled resolves its open alerts, and its webhook gets
the documented `resolved` body, though the channel is deleted with the rule before the message is sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mqtt_app.alerts.models import Alert, AlertRule, NotificationChannel
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import MqttConnection, MqttConnectionLog, Role

from .test_api import client_with

BODY_KEYS = {"state", "rule", "site", "connection", "topic", "subject", "since", "value", "url", "alert", "reminder"}


def _break(connection: MqttConnection) -> None:
    at = timezone.now() - timedelta(seconds=30)
    MqttConnectionLog.objects.create(connection=connection, event="error", status="error", created_at=at)
    MqttConnection.objects.filter(pk=connection.pk).update(status="error", status_changed_at=at)


def _fire(connection: MqttConnection) -> Alert:
    _break(connection)
    evaluate_all()
    return Alert.objects.get()


def _superuser(django_user_model) -> Client:  # noqa: ANN001
    # Not a manager: the admin lets only superusers delete what a rule's delete cascades to (its alerts).
    user = django_user_model.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_rule_deleted_through_the_api_posts_resolved_from_the_worker(
    django_user_model, site, connection, make_rule, receiver, celery_worker_process
):
    rule = make_rule("connection_down", name="broker down", for_seconds=5, channels=[("webhook", receiver.url)])
    alert = _fire(connection)
    receiver.wait_for(lambda got: len(got) >= 1)

    response = client_with(django_user_model, site, Role.MANAGER).delete(f"/api/alert-rules/{rule.pk}")
    assert response.status_code == 204
    requests = receiver.wait_for(lambda got: len(got) >= 2)
    resolved = requests[1].json()
    assert set(resolved) >= BODY_KEYS and resolved["state"] == "resolved" and resolved["alert"] == alert.pk
    assert resolved["rule"] == {"id": rule.pk, "name": "broker down", "kind": "connection_down"}
    assert not AlertRule.objects.exists() and not NotificationChannel.objects.exists()


@pytest.mark.django_db
def test_a_rule_deleted_in_the_admin_posts_resolved(
    django_user_model, site, connection, make_rule, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    rule = make_rule("connection_down", for_seconds=5, channels=[("webhook", receiver.url)])
    _fire(connection)
    admin = _superuser(django_user_model)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("admin:mqtt_alertrule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302
    requests = receiver.wait_for(lambda got: len(got) >= 2)
    assert [r.json()["state"] for r in requests] == ["firing", "resolved"]


@pytest.mark.django_db
def test_rules_bulk_deleted_in_the_admin_post_resolved_each(
    django_user_model, site, connection, make_rule, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    rules = [make_rule("connection_down", name=f"r{n}", for_seconds=5, channels=[("webhook", receiver.url)])
             for n in range(2)]  # fmt: skip
    _break(connection)
    assert evaluate_all().fired == 2
    admin = _superuser(django_user_model)
    form = {"action": "delete_selected", "_selected_action": [str(r.pk) for r in rules], "post": "yes"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("admin:mqtt_alertrule_changelist"), form)
    assert response.status_code == 302 and not AlertRule.objects.exists()
    requests = receiver.wait_for(lambda got: len(got) >= 4)
    resolved = sorted(r.json()["rule"]["name"] for r in requests if r.json()["state"] == "resolved")
    assert resolved == ["r0", "r1"]


@pytest.mark.django_db
def test_a_rule_disabled_through_the_api_posts_resolved_at_the_next_evaluation(
    django_user_model, site, connection, make_rule, receiver, eager_tasks
):
    rule = make_rule("connection_down", for_seconds=5, channels=[("webhook", receiver.url)])
    _fire(connection)
    manager = client_with(django_user_model, site, Role.MANAGER)
    response = manager.patch(f"/api/alert-rules/{rule.pk}", {"is_enabled": False}, content_type="application/json")
    assert response.status_code == 200
    assert evaluate_all().resolved == 1
    requests = receiver.wait_for(lambda got: len(got) >= 2)
    assert [r.json()["state"] for r in requests] == ["firing", "resolved"]


@pytest.mark.django_db
def test_a_delete_that_rolls_back_sends_nothing_and_keeps_the_alert_open(
    connection, make_rule, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    from django.db import transaction

    rule = make_rule("connection_down", for_seconds=5, channels=[("webhook", receiver.url)])
    _fire(connection)
    receiver.wait_for(lambda got: len(got) >= 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                rule.delete()
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == [] and Alert.objects.get().resolved_at is None
    assert len(receiver.requests) == 1
