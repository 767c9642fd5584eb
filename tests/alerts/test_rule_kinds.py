"""Each kind of rule, evaluated at a chosen time against real database rows: when it fires, when it resolves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.alerts.models import Alert
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import IngestBatch, MqttConnection, MqttConnectionLog, TelemetryReading

pytestmark = pytest.mark.django_db


def _log(connection: MqttConnection, status: str, seconds_ago: float) -> None:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    MqttConnectionLog.objects.create(connection=connection, event=status, status=status, created_at=at)
    MqttConnection.objects.filter(pk=connection.pk).update(status=status, status_changed_at=at)


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(resolved_at__isnull=True))


def test_a_connection_down_rule_fires_only_after_for_seconds_of_retries(connection, make_rule):
    make_rule("connection_down", for_seconds=60)
    _log(connection, "starting", 70)
    _log(connection, "reconnecting", 1)  # a retry a second ago does not restart the clock
    evaluate_all(timezone.now() - timedelta(seconds=20))
    assert open_alerts() == []
    evaluate_all()
    (alert,) = open_alerts()
    assert (alert.subject_key, alert.connection_id, alert.state) == (f"connection:{connection.pk}", connection.pk,
                                                                      "firing")  # fmt: skip
    assert "reconnecting" in alert.subject


def test_a_connection_down_alert_resolves_when_connected_and_a_stopped_connection_is_not_down(connection, make_rule):
    make_rule("connection_down", for_seconds=5)
    _log(connection, "error", 30)
    evaluate_all()
    assert len(open_alerts()) == 1
    _log(connection, "connected", 0)
    evaluate_all()
    assert open_alerts() == []
    assert Alert.objects.get().state == "resolved"
    MqttConnection.objects.filter(pk=connection.pk).update(is_active=False, status="stopped")
    evaluate_all()
    assert open_alerts() == []


def test_only_one_alert_is_open_per_rule_and_subject(connection, make_rule):
    make_rule("connection_down", for_seconds=0)
    _log(connection, "error", 10)
    for _ in range(3):
        evaluate_all()
    assert Alert.objects.count() == 1
    from django.db import IntegrityError, transaction

    alert = Alert.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule=alert.rule, site=alert.site, subject_key=alert.subject_key, subject="again",
                             since=alert.since, fired_at=alert.fired_at)  # fmt: skip


def test_a_topic_silent_rule_fires_for_topics_matching_its_filter(make_topic, make_rule):
    quiet = make_topic("site/a/temp", age=120)
    make_topic("site/b/temp", age=5)
    make_topic("other/c/temp", age=300)
    make_rule("topic_silent", for_seconds=60, filter="site/#")
    evaluate_all()
    (alert,) = open_alerts()
    assert alert.topic_id == quiet.pk and "site/a/temp" in alert.subject
    quiet.last_seen_at = timezone.now()
    quiet.save()
    evaluate_all()
    assert open_alerts() == []


def test_a_topic_silent_rule_learns_each_topics_usual_interval(make_topic, make_rule):
    now = timezone.now()
    # Every 10 s for 100 s, then 35 s of silence: more than 3 times its interval.
    make_topic("fast", count=11, first_seen_at=now - timedelta(seconds=135), age=35)
    # Every 60 s: 35 s of silence is normal.
    make_topic("slow", count=11, first_seen_at=now - timedelta(seconds=635), age=35)
    make_rule("topic_silent", for_seconds=0, value=3)
    evaluate_all()
    assert [a.subject.split(" for ")[0] for a in open_alerts()] == ["topic fast silent"]


def _reading(topic, value: float, seconds_ago: float, device: str = "") -> None:  # noqa: ANN001
    at = timezone.now() - timedelta(seconds=seconds_ago)
    TelemetryReading.objects.create(connection_id=topic.connection_id, topic=topic, metric="temp", value=value,
                                    device=device, timestamp=at, received_at=at)  # fmt: skip


def test_a_threshold_rule_fires_after_for_seconds_and_clears_only_past_its_clear_value(make_topic, make_rule):
    topic = make_topic("site/t", is_processable=True)
    make_rule("threshold", metric="temp", op="gt", value=30, clear_value=25, for_seconds=60)
    _reading(topic, 20, 200)
    _reading(topic, 31, 90)
    _reading(topic, 35, 10)
    evaluate_all(timezone.now() - timedelta(seconds=40))  # above for 50 s of the 60 needed
    assert open_alerts() == []
    evaluate_all()
    (alert,) = open_alerts()
    assert alert.value == 35 and alert.topic_id == topic.pk and "above 30" in alert.subject
    _reading(topic, 28, 0)  # under the threshold, above the clear value: still open
    evaluate_all()
    assert len(open_alerts()) == 1
    _reading(topic, 24, 0)
    evaluate_all()
    assert open_alerts() == []


def test_a_threshold_rule_watches_each_device_of_a_topic_on_its_own(make_topic, make_rule):
    topic = make_topic("zigbee2mqtt/bridge", is_processable=True)
    make_rule("threshold", metric="temp", op="lt", value=5, for_seconds=0)
    _reading(topic, 2, 5, device="freezer")
    _reading(topic, 20, 5, device="office")
    evaluate_all()
    assert [a.subject_key for a in open_alerts()] == [f"topic:{topic.pk}/device:freezer"]


def stored_batch(connection, messages: int, errors: int, at) -> None:  # noqa: ANN001
    import uuid

    IngestBatch.objects.create(id=uuid.uuid4(), connection=connection, message_count=messages, error_count=errors,
                               processed_at=at)  # fmt: skip


def test_a_parse_errors_rule_fires_above_its_ratio_over_the_window(connection, make_rule):
    make_rule("parse_errors", value=0.2, for_seconds=300)
    now = timezone.now()
    stored_batch(connection, 100, 10, now - timedelta(seconds=30))
    evaluate_all()
    assert open_alerts() == []
    stored_batch(connection, 10, 40 - 10, now)
    evaluate_all()
    (alert,) = open_alerts()
    assert alert.value == pytest.approx(40 / 110, abs=1e-3)
    assert evaluate_all(now + timedelta(seconds=400)).resolved == 1  # the window moved past the failures


def test_an_error_rate_rule_fires_on_dead_letters_not_on_parse_failures(connection, make_rule):
    import uuid

    from mqtt_app.models import DeadLetter

    make_rule("error_rate", value=0.01, for_seconds=300)
    now = timezone.now()
    stored_batch(connection, 100, 50, now - timedelta(seconds=30))
    evaluate_all()
    assert open_alerts() == []  # half of them failed to parse: the devices' problem, not the application's
    for _ in range(2):
        DeadLetter.objects.create(id=uuid.uuid4(), batch=uuid.uuid4(), connection_id=connection.pk, topic="t",
                                  payload=b"x", qos=1, received_at=now, created_at=now, error_kind="x")  # fmt: skip
    evaluate_all()
    (alert,) = open_alerts()
    assert alert.value == pytest.approx(0.02) and "could not be stored" in alert.subject
    assert evaluate_all(now + timedelta(seconds=400)).resolved == 1


@pytest.mark.parametrize(
    ("topic", "payload", "offline"),
    [
        ("zigbee2mqtt/kitchen/availability", b"offline", True),
        ("zigbee2mqtt/kitchen/availability", b'{"state":"online"}', False),
        ("zigbee2mqtt/kitchen/availability", b'{"state":"offline"}', True),
        ("tele/plug1/LWT", b"Offline", True),
        ("tele/plug1/LWT", b"Online", False),
        ("homie/boiler/$state", b"lost", True),
        ("homie/boiler/$state", b"ready", False),
        ("shellies/door/online", b"false", True),
        ("shellies/door/online", b"true", False),
        ("shellies/door/temperature", b"false", False),
    ],
)
def test_a_device_offline_rule_reads_the_availability_conventions(make_topic, make_rule, topic, payload, offline):
    make_topic(topic, last_payload=payload)
    make_rule("device_offline", for_seconds=0)
    evaluate_all()
    assert len(open_alerts()) == (1 if offline else 0)


def test_a_disabled_rule_resolves_its_open_alerts(connection, make_rule):
    rule = make_rule("connection_down", for_seconds=0)
    _log(connection, "error", 10)
    evaluate_all()
    rule.is_enabled = False
    rule.save()
    assert evaluate_all().resolved == 1
    assert open_alerts() == []
