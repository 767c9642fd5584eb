"""Start/stop: change the desired state only, then ask for a reconcile once the change is committed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from mqtt_app.models import MqttConnection
from project.celery import app

from .status import broadcast_statuses

RECONCILE_TASK = "tasks.reconcile.reconcile"


def request_reconcile() -> None:
    """Enqueue a reconcile after the current transaction commits, so the listeners act in about a second. Sent
    by name: `tasks/` calls into this package, never the other way round."""
    transaction.on_commit(lambda: app.send_task(RECONCILE_TASK, ignore_result=True), robust=True)


def set_active(connection_ids: Iterable[int], active: bool, user: Any = None, via: str = "") -> int:  # noqa: ANN401
    """Set `is_active` on the given connections (and nothing else). Returns how many rows changed. Open
    pages see the new desired state once it is committed, before any listener acts on it. With `via` (a
    person's request: "api", "admin", "cli"), each change is recorded in the audit trail."""
    from .audit import record

    with transaction.atomic():
        rows = MqttConnection.objects.filter(pk__in=list(connection_ids)).exclude(is_active=active)
        found = list(rows.values_list("pk", "site_id", "site__name", "name"))
        ids = [pk for pk, *_ in found]
        changed = rows.filter(pk__in=ids).update(is_active=active)
        for pk, site_id, site_name, name in found if via else ():
            action = "connection.start" if active else "connection.stop"
            changes = {"is_active": {"old": not active, "new": active}}
            record(user, action, site_id=site_id, connection_id=pk, target=f"{site_name} / {name}", changes=changes,
                   via=via)  # fmt: skip
        # One callback: the broadcast (never raises), then the reconcile request (sent at once after commit).
        transaction.on_commit(lambda: _after_commit(ids), robust=True)
    return changed


def _after_commit(ids: list[int]) -> None:
    broadcast_statuses(ids)
    request_reconcile()
