"""Start/stop: change the desired state only, then ask for a reconcile once the change is committed."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from mqtt_app.models import MqttConnection


def request_reconcile() -> None:
    """Enqueue a reconcile after the current transaction commits, so the listeners act in about a second."""
    from tasks.reconcile import reconcile

    transaction.on_commit(lambda: reconcile.apply_async(), robust=True)


def set_active(connection_ids: Iterable[int], active: bool) -> int:
    """Set `is_active` on the given connections (and nothing else). Returns how many rows changed."""
    with transaction.atomic():
        changed = (
            MqttConnection.objects.filter(pk__in=list(connection_ids))
            .exclude(is_active=active)
            .update(is_active=active)
        )
        request_reconcile()
    return changed
