"""Connections created, changed or deleted anywhere (API, admin, CLI, shell) reach every open page.

Wired to the model's post_save and post_delete signals (frontend.apps), so no write path can forget it. The
event leaves once the change is committed: a rolled-back change is never announced. Bulk `update()` sends no
signal; the paths that use it (start/stop, status bookkeeping) broadcast their changes themselves.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from mqtt_app.events import STATUS_GROUP, ConnectionDeletedEvent, broadcast
from mqtt_app.models import MqttConnection

from .status import broadcast_statuses


def connection_saved(sender: type[MqttConnection], instance: MqttConnection, raw: bool = False, **kwargs: Any) -> None:  # noqa: ANN401
    if raw:  # loaddata
        return
    transaction.on_commit(partial(broadcast_statuses, [instance.pk]), robust=True)


def connection_deleted(sender: type[MqttConnection], instance: MqttConnection, **kwargs: Any) -> None:  # noqa: ANN401
    event = ConnectionDeletedEvent(connection=instance.pk, site=instance.site_id)
    transaction.on_commit(partial(broadcast, STATUS_GROUP, event), robust=True)


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    post_save.connect(connection_saved, sender=MqttConnection, dispatch_uid="announce-connection-saved")
    post_delete.connect(connection_deleted, sender=MqttConnection, dispatch_uid="announce-connection-deleted")
