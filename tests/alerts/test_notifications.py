"""Notifications: a signed webhook POST of the documented body to a local HTTP server, retried when it fails;
e-mail through Django's mail settings; Apprise URLs; one message per firing and resolution, reminders, groups."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mqtt_app.alerts.channels import DeliveryError, render, send
from mqtt_app.alerts.models import Alert, NotificationChannel
from mqtt_app.alerts.service import acknowledge, evaluate_all
from mqtt_app.models import MqttConnection, MqttConnectionLog

pytestmark = pytest.mark.django_db


def _down(connection: MqttConnection, seconds: float = 30) -> None:
    at = timezone.now() - timedelta(seconds=seconds)
    MqttConnectionLog.objects.create(connection=connection, event="error", status="error", created_at=at)
    MqttConnection.objects.filter(pk=connection.pk).update(status="error", status_changed_at=at)


def _up(connection: MqttConnection) -> None:
    now = timezone.now()
    MqttConnectionLog.objects.create(connection=connection, event="connected", status="connected", created_at=now)
    MqttConnection.objects.filter(pk=connection.pk).update(status="connected", status_changed_at=now)


def test_a_webhook_gets_one_signed_firing_and_one_resolved_body(connection, make_rule, receiver, eager_tasks):
    rule = make_rule("connection_down", for_seconds=5, channels=[("webhook", receiver.url)])
    _down(connection)
    evaluate_all()
    evaluate_all()  # still down: nothing new is sent
    _up(connection)
    evaluate_all()
    requests = receiver.wait_for(lambda got: len(got) >= 2)
    assert [r.json()["state"] for r in requests] == ["firing", "resolved"]
    firing = requests[0].json()
    assert firing["rule"] == {"id": rule.pk, "name": rule.name, "kind": "connection_down"}
    assert (firing["site"], firing["connection"], firing["topic"]) == (rule.site_id, connection.pk, None)
    assert firing["url"].endswith(f"/connections/{connection.pk}/") and firing["value"] is None
    assert set(firing) >= {"state", "rule", "site", "connection", "topic", "subject", "since", "value", "url"}
    secret = NotificationChannel.objects.get(rule=rule).secret
    expected = "sha256=" + hmac.new(secret.encode(), requests[0].raw, hashlib.sha256).hexdigest()
    assert requests[0].headers["X-Mqttmon-Signature"] == expected


def test_a_failing_webhook_is_retried_until_it_answers(connection, make_rule, receiver, eager_tasks):
    make_rule("connection_down", for_seconds=0, channels=[("webhook", receiver.url)])
    receiver.statuses = [500, 503]
    _down(connection)
    evaluate_all()
    requests = receiver.wait_for(lambda got: len(got) >= 3)
    assert len(requests) == 3 and len({r.raw for r in requests}) == 1


def test_a_webhook_failure_is_a_delivery_error_and_a_refusal_is_not(make_rule, receiver):
    rule = make_rule("connection_down", channels=[("webhook", receiver.url)])
    channel = rule.channels.get()
    receiver.statuses = [502, 404]
    with pytest.raises(DeliveryError):
        send(channel.pk, {"state": "test"})
    assert send(channel.pk, {"state": "test"}) is False
    receiver.server.shutdown()
    receiver.server.server_close()
    with pytest.raises(DeliveryError):
        send(channel.pk, {"state": "test"})


def test_e_mail_goes_through_djangos_mail_settings(connection, make_rule, eager_tasks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_rule("connection_down", name="broker down", for_seconds=0, channels=[("email", "ops@example.com, b@x.org")])
    _down(connection)
    evaluate_all()
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "b@x.org"]
    assert message.subject.startswith("[mqttmon] FIRING: broker down: connection main is error")


def test_an_apprise_url_is_notified(connection, make_rule, receiver, eager_tasks):
    # Apprise's generic JSON notifier (json://) posts to our local server: no network leaves the machine.
    target = receiver.url.replace("http://", "json://")
    make_rule("connection_down", name="down", for_seconds=0, channels=[("apprise", target)])
    _down(connection)
    evaluate_all()
    (request,) = receiver.wait_for(lambda got: len(got) >= 1)
    assert "FIRING: down: connection main is error" in request.json()["title"]


def test_many_alerts_in_one_round_go_to_a_destination_as_one_message(site, make_topic, make_rule, receiver,
                                                                        eager_tasks, settings):  # fmt: skip
    settings.MQTT_ALERT_GROUP_THRESHOLD = 3
    for n in range(6):
        make_topic(f"site/{n}", age=600)
    make_rule("topic_silent", for_seconds=60, channels=[("webhook", receiver.url)])
    evaluate_all()
    (request,) = receiver.wait_for(lambda got: len(got) >= 1)
    message = request.json()
    assert (message["state"], message["count"]) == ("grouped", 6)
    assert sorted(item["subject"].split(" silent")[0] for item in message["alerts"]) == [
        f"topic site/{n}" for n in range(6)
    ]
    title, text = render(message)
    assert title == "[mqttmon] 6 firing, 0 resolved" and len(text.splitlines()) == 6


def test_a_firing_alert_is_reminded_until_acknowledged(connection, make_rule, receiver, eager_tasks, settings):
    settings.MQTT_ALERT_REMINDER_SECONDS = 600
    make_rule("connection_down", for_seconds=0, channels=[("webhook", receiver.url)])
    _down(connection)
    evaluate_all()
    evaluate_all(timezone.now() + timedelta(seconds=300))
    evaluate_all(timezone.now() + timedelta(seconds=700))
    requests = receiver.wait_for(lambda got: len(got) >= 2)
    assert [(r.json()["state"], r.json()["reminder"]) for r in requests] == [("firing", False), ("firing", True)]
    acknowledge(Alert.objects.get(), None)
    assert evaluate_all(timezone.now() + timedelta(seconds=2000)).reminded == 0
