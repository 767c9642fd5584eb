"""Fixtures for the alerting tests: a site with a connection and topics, rules, and a local webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from mqtt_app.alerts.models import AlertRule, NotificationChannel
from mqtt_app.models import MqttConnection, MqttTopic, Site
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401 - the lifecycle tests' fixtures

from .receiver import Receiver, start_receiver


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings) -> None:
    """The receiver listens on 127.0.0.1, which the default refuses (test_private_targets.py tests that)."""
    settings.MQTT_ALERT_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def process_env(process_env: dict[str, str]) -> dict[str, str]:
    """The worker, too, may post to the receiver on 127.0.0.1."""
    return {**process_env, "MQTT_ALERT_ALLOW_PRIVATE_TARGETS": "true"}


@pytest.fixture
def site(db) -> Site:
    return Site.objects.create(name="Plant")


@pytest.fixture
def connection(site) -> MqttConnection:
    return MqttConnection.objects.create(site=site, name="main", host="127.0.0.1", port=1883)


@pytest.fixture
def make_topic(connection):
    def make(name: str, age: float = 0.0, count: int = 1, **fields) -> MqttTopic:  # noqa: ANN003
        seen = timezone.now() - timedelta(seconds=age)
        fields.setdefault("first_seen_at", seen)
        return MqttTopic.objects.create(connection=connection, topic=name, last_seen_at=seen, message_count=count,
                                        **fields)  # fmt: skip

    return make


@pytest.fixture
def make_rule(site):
    def make(kind: str, **fields) -> AlertRule:  # noqa: ANN003
        channels = fields.pop("channels", [])
        fields.setdefault("name", f"{kind} rule")
        rule = AlertRule(site=site, kind=kind, **fields)
        rule.full_clean()
        rule.save()
        for channel_type, target in channels:
            NotificationChannel.objects.create(rule=rule, type=channel_type, target=target)
        return rule

    return make


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = start_receiver()
    yield instance
    instance.server.shutdown()
    instance.server.server_close()


@pytest.fixture
def eager_tasks(settings) -> Iterator[None]:
    """Notifications delivered in the test's own process (the delivery task runs inline)."""
    from project.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
