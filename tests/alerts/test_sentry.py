"""Sentry, offline (a local endpoint as the DSN): every firing alert reported once, grouped per rule and subject;
a connection going to `error` reported once, grouped per connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sentry_sdk
from django.utils import timezone

from mqtt_app.alerts.models import Alert
from mqtt_app.alerts.reporting import alert_key
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import MqttConnection, MqttConnectionLog
from mqtt_app.observability.sentry import reset_throttle
from mqtt_app.services.status import record_status
from project.sentry import init_sentry
from tests.ops.sentry_sink import SentrySink

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink() -> Iterator[SentrySink]:
    instance = SentrySink().start()
    reset_throttle()
    init_sentry(dsn=instance.dsn, environment="alerts-test", release="mqttmon@test", traces_sample_rate=0.0)
    yield instance
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    reset_throttle()
    instance.stop()


def _events(sink: SentrySink, logger: str) -> list[dict]:
    sentry_sdk.flush(timeout=5)
    return [event for event in sink.events() if event.get("logger") == logger]


def test_a_firing_alert_is_reported_once_with_its_rule_and_subject(sink, connection, make_rule):
    rule = make_rule("connection_down", for_seconds=0)
    at = timezone.now() - timedelta(seconds=10)
    MqttConnectionLog.objects.create(connection=connection, event="error", status="error", created_at=at)
    MqttConnection.objects.filter(pk=connection.pk).update(status="error", status_changed_at=at)
    for _ in range(3):
        evaluate_all()
    (event,) = _events(sink, "mqtt.alerts")
    assert event["fingerprint"] == ["mqtt-alert", str(rule.pk), f"connection:{connection.pk}"]
    assert event["tags"]["alert_kind"] == "connection_down" and event["tags"]["connection"] == str(connection.pk)
    assert event["tags"]["alert_key"] == alert_key(Alert.objects.get())  # what its resolution searches for


def test_a_connection_going_to_error_is_reported_once(sink, connection):
    for _ in range(3):
        record_status(connection.pk, "error", "Not authorized")
    record_status(connection.pk, "reconnecting", "retrying")
    (event,) = _events(sink, "mqtt.connections")
    assert event["fingerprint"] == ["mqtt-connection-error", str(connection.pk)]
    assert event["extra"]["detail"] == "Not authorized"
