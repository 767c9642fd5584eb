"""An alert's Sentry issue is resolved when the alert resolves, through Sentry's web API (a local HTTP server
stands in for it: Sentry is outside this machine): PUT .../organizations/{org}/issues/?query=is:unresolved
alert_key:<key> with the token, retried on 5xx; without a token nothing is sent."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from mqtt_app.alerts.models import Alert
from mqtt_app.alerts.reporting import alert_key
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import MqttConnection, MqttConnectionLog

from .receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def sentry_api(receiver: Receiver, settings) -> Receiver:
    settings.SENTRY_API_URL = f"http://127.0.0.1:{receiver.server.server_address[1]}"
    settings.SENTRY_API_TOKEN = "sntrys-test-token"  # noqa: S105 - a fake server's token
    settings.SENTRY_ORG = "acme"
    return receiver


def _set(connection: MqttConnection, status: str, ago: float = 0) -> None:
    at = timezone.now() - timedelta(seconds=ago)
    MqttConnectionLog.objects.create(connection=connection, event=status, status=status, created_at=at)
    MqttConnection.objects.filter(pk=connection.pk).update(status=status, status_changed_at=at)


def _fire_then_resolve(connection: MqttConnection, make_rule) -> Alert:  # noqa: ANN001
    make_rule("connection_down", for_seconds=5)
    _set(connection, "error", ago=30)
    evaluate_all()
    _set(connection, "connected")
    assert evaluate_all().resolved == 1
    return Alert.objects.get()


def test_a_resolved_alert_resolves_its_sentry_issue(connection, make_rule, sentry_api, eager_tasks):
    alert = _fire_then_resolve(connection, make_rule)
    (request,) = sentry_api.wait_for(lambda got: len(got) >= 1)
    url = urlsplit(request.path)
    assert (request.method, url.path) == ("PUT", "/api/0/organizations/acme/issues/")
    assert parse_qs(url.query) == {"query": [f"is:unresolved alert_key:{alert_key(alert)}"], "project": ["-1"]}
    assert request.headers["Authorization"] == "Bearer sntrys-test-token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.raw) == {"status": "resolved"}


def test_a_failing_sentry_api_is_retried_until_it_answers(connection, make_rule, sentry_api, eager_tasks):
    sentry_api.statuses = [502, 429]
    _fire_then_resolve(connection, make_rule)
    requests = sentry_api.wait_for(lambda got: len(got) >= 3)
    assert len({(r.method, r.path, r.raw) for r in requests}) == 1


def test_a_refusal_is_logged_and_not_retried(connection, make_rule, sentry_api, eager_tasks, caplog):
    sentry_api.statuses = [401]
    with caplog.at_level(logging.WARNING):
        _fire_then_resolve(connection, make_rule)
    sentry_api.wait_for(lambda got: len(got) >= 1)
    assert "Sentry refused to resolve the issue" in caplog.text and "retrying" not in caplog.text


def test_without_a_token_nothing_is_sent(connection, make_rule, receiver, settings, eager_tasks):
    settings.SENTRY_API_URL = f"http://127.0.0.1:{receiver.server.server_address[1]}"
    settings.SENTRY_API_TOKEN = ""
    settings.SENTRY_ORG = "acme"
    _fire_then_resolve(connection, make_rule)
    assert receiver.requests == []  # eager: the task would have run inside evaluate_all


def test_a_deleted_rule_resolves_its_sentry_issue_too(connection, make_rule, sentry_api, eager_tasks,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    rule = make_rule("connection_down", for_seconds=5)
    _set(connection, "error", ago=30)
    evaluate_all()
    key = alert_key(Alert.objects.get())
    with django_capture_on_commit_callbacks(execute=True):
        rule.delete()
    (request,) = sentry_api.wait_for(lambda got: len(got) >= 1)
    assert parse_qs(urlsplit(request.path).query)["query"] == [f"is:unresolved alert_key:{key}"]
