"""mqtt_start / mqtt_stop change only the desired state (and ask for a reconcile); mqtt_status shows a table."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mqtt_app.models import ConnectionStatus


def queued_task_names(redis_client, queue: str = "control") -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange(queue, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_stop_by_name_only_clears_the_flag_and_requests_a_reconcile(make_connection, redis_client):
    connection = make_connection(name="boiler", status=ConnectionStatus.CONNECTED, listener="L1")
    out = StringIO()
    call_command("mqtt_stop", "boiler", stdout=out)
    connection.refresh_from_db()
    assert connection.is_active is False
    assert (connection.status, connection.listener) == (ConnectionStatus.CONNECTED, "L1")
    assert "stop requested" in out.getvalue()
    assert queued_task_names(redis_client) == ["tasks.reconcile.reconcile"]


@pytest.mark.django_db(transaction=True)
def test_start_by_id_only_sets_the_flag(make_connection, redis_client):
    connection = make_connection(is_active=False)
    call_command("mqtt_start", str(connection.pk), stdout=StringIO())
    connection.refresh_from_db()
    assert connection.is_active is True and connection.status == ConnectionStatus.STOPPED
    assert queued_task_names(redis_client) == ["tasks.reconcile.reconcile"]


@pytest.mark.django_db
def test_an_unknown_or_ambiguous_name_is_a_clear_error(make_connection, site):
    from mqtt_app.models import MqttConnection, Site

    make_connection(name="pump")
    other = Site.objects.create(name="annex")
    MqttConnection.objects.create(site=other, name="pump", host="127.0.0.1")
    with pytest.raises(CommandError, match="No connection"):
        call_command("mqtt_start", "nothing-here")
    with pytest.raises(CommandError, match="several connections"):
        call_command("mqtt_start", "pump")
    call_command("mqtt_stop", "annex/pump", stdout=StringIO())
    assert MqttConnection.objects.get(site=other).is_active is False


@pytest.mark.django_db
def test_status_table_shows_desired_actual_listener_and_last_message(make_connection):
    make_connection(name="meter", status=ConnectionStatus.ERROR, listener="L9", status_detail="bad password")
    out = StringIO()
    call_command("mqtt_status", stdout=out)
    header, row = out.getvalue().splitlines()
    assert header.split() == ["ID", "CONNECTION", "DESIRED", "ACTUAL", "LISTENER", "LAST", "MESSAGE", "DETAIL"]
    assert "plant/meter" in row and "active" in row and "error" in row and "L9" in row and "never" in row
