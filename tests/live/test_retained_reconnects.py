"""A retained payload across five reconnects (each one resubscribes, and the broker resends it) is one reading,
and its topic's last-seen time stays that of the publish."""

from __future__ import annotations

import pytest

from tests.helpers import wait_for
from tests.live.pages import connection_status, started_connection

pytestmark = pytest.mark.slow


def test_a_retained_payload_across_five_reconnects_is_one_reading(
    broker, publish, celery_worker_process, listener_process
):
    from mqtt_app.models import MqttConnection, MqttTopic, TelemetryReading
    from mqtt_app.services.control import set_active

    publish("plant/boiler/setpoint", b"55", retain=True)  # before the connection: it arrives as a replay too
    connection = started_connection(broker)
    topic = wait_for(lambda: MqttTopic.objects.filter(topic="plant/boiler/setpoint").first(), timeout=30, what="it")
    first_seen = topic.last_seen_at

    for n in range(1, 6):
        set_active([connection.pk], False)
        wait_for(lambda: connection_status(connection.pk) == "stopped", timeout=30, what="the stop")
        set_active([connection.pk], True)
        wait_for(lambda: connection_status(connection.pk) == "connected", timeout=30, what="the reconnect")
        # The broker sends the retained message right after the subscription, before anything published later:
        # once this marker is stored, so is whatever the replay left.
        publish("plant/marker", str(n).encode())
        wait_for(
            lambda n=n: MqttTopic.objects.filter(topic="plant/marker", message_count=n).exists(),
            timeout=30,
            what=f"marker {n}",
        )

    topic.refresh_from_db()
    assert TelemetryReading.objects.filter(topic=topic).count() == 1
    assert (topic.message_count, topic.last_seen_at, topic.retained) == (1, first_seen, True)
    assert MqttConnection.objects.get(pk=connection.pk).messages_received == 1 + 5  # the markers
