"""A rule being deleted resolves its open alerts first, and notifies the resolutions like any other.

A model signal, so every path is covered: the API, the admin's delete and bulk delete, and the cascade of a
deleted connection, topic or site. The rule's channels go with it, so the messages are built while they exist
and each task carries its channel sealed; they are queued after the commit, so a delete that rolls back sends
nothing (its alerts stay open, and resolve later as usual).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import pre_delete
from django.utils import timezone

from .models import Alert, AlertRule, AlertState
from .notify import Change, announce, enqueue, messages_by_channel


def connect() -> None:
    pre_delete.connect(resolve_before_delete, sender=AlertRule, dispatch_uid="mqtt.alerts.resolve_before_delete")


def resolve_before_delete(sender: Any, instance: AlertRule, **kwargs: Any) -> None:  # noqa: ANN401
    from .service import resolve

    now = timezone.now()
    changes = []
    for alert in Alert.objects.filter(rule_id=instance.pk, resolved_at__isnull=True):
        alert.rule = instance  # the body reads it, after its row is gone
        if resolve(alert, now):
            changes.append(Change(alert, AlertState.RESOLVED))
    if not changes:
        return
    messages = messages_by_channel(changes)

    def notify() -> None:
        enqueue(messages, sealed=True)
        announce(changes)

    transaction.on_commit(notify)
