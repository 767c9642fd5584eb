"""mqtt_demo creates the demo site and its active connection once, and leaves an operator's stop alone."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from mqtt_app.management.commands.mqtt_simulate import TOPIC_FILTERS
from mqtt_app.models import MqttConnection, Site

pytestmark = pytest.mark.django_db


def test_running_the_demo_twice_creates_one_active_connection_subscribed_to_every_format():
    call_command("mqtt_demo")
    call_command("mqtt_demo", port=1884)

    assert Site.objects.filter(name="Demo site").count() == 1
    connection = MqttConnection.objects.get(site__name="Demo site")
    assert connection.is_active and (connection.host, connection.port) == ("127.0.0.1", 1884)
    assert [t["filter"] for t in connection.topics] == list(TOPIC_FILTERS)


def test_a_stopped_demo_connection_stays_stopped():
    call_command("mqtt_demo")
    MqttConnection.objects.update(is_active=False)

    call_command("mqtt_demo")

    assert MqttConnection.objects.get().is_active is False


def test_a_bad_host_is_refused_with_a_clear_error():
    with pytest.raises(CommandError, match="host"):
        call_command("mqtt_demo", host="mqtt://nope")
