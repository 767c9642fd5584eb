"""The status service: database first, then log row, log line and broadcast; stale events ignored."""

from __future__ import annotations

import logging
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from mqtt_app.events import STATUS_GROUP
from mqtt_app.models import ConnectionEvent, ConnectionStatus, MqttConnectionLog
from mqtt_app.services.status import record_heartbeat, record_status

pytestmark = pytest.mark.django_db


def test_connected_status_is_stored_logged_and_counted(make_connection, caplog):
    connection = make_connection()
    with caplog.at_level(logging.INFO, logger="mqtt.connections"):
        assert record_status(connection.pk, "connected", "", "L1", time.time())
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
    assert connection.listener == "L1" and connection.connect_count == 1
    assert connection.last_connected_at is not None
    assert MqttConnectionLog.objects.get(connection=connection).event == ConnectionEvent.CONNECTED
    assert f"connection={connection.pk} event=connected status=connected listener=L1" in caplog.text


def test_an_event_older_than_the_stored_status_is_ignored(make_connection):
    connection = make_connection()
    now = time.time()
    record_status(connection.pk, "error", "refused", "L1", now)
    assert not record_status(connection.pk, "connected", "", "L1", now - 5)
    connection.refresh_from_db()
    assert (connection.status, connection.status_detail) == ("error", "refused")
    assert MqttConnectionLog.objects.filter(connection=connection).count() == 1


def test_stopped_clears_the_owning_listener(make_connection):
    connection = make_connection()
    record_status(connection.pk, "connected", "", "L1", time.time() - 1)
    record_status(connection.pk, "stopped", "", "L1", time.time())
    connection.refresh_from_db()
    assert (connection.status, connection.listener) == ("stopped", "")


def test_an_unknown_status_or_connection_is_refused_without_error(make_connection):
    assert not record_status(make_connection().pk, "flying", "", "L1", time.time())
    assert not record_status(999_999, "connected", "", "L1", time.time())


def test_a_status_change_is_broadcast_to_the_status_group(make_connection):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(STATUS_GROUP, channel)
    connection = make_connection()
    record_status(connection.pk, "error", "bad password", "L1", time.time())
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "connection.status"
    assert message["payload"]["connection"] == connection.pk
    assert (message["payload"]["status"], message["payload"]["detail"]) == ("error", "bad password")


def test_heartbeat_report_touches_only_connections_the_listener_owns(make_connection):
    mine, other = make_connection(), make_connection()
    record_status(mine.pk, "connected", "", "L1", time.time())
    record_status(other.pk, "connected", "", "L2", time.time())
    assert record_heartbeat("L1", time.time(), [mine.pk, other.pk]) == 1
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.last_heartbeat_at is not None and other.last_heartbeat_at is None
