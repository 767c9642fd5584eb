"""Status bookkeeping sent by listeners (which never write the database themselves)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.status.record_status", ignore_result=True)
def record_status(
    connection_id: int,
    status: str,
    detail: str = "",
    listener_id: str = "",
    at_epoch: float | None = None,
    event: str | None = None,
) -> bool:
    from mqtt_app.services.status import record_status as record

    return record(connection_id, status, detail, listener_id, at_epoch, event)


@shared_task(name="tasks.status.record_heartbeat", ignore_result=True)
def record_heartbeat(listener_id: str, at_epoch: float, connection_ids: list[int]) -> int:
    from mqtt_app.services.status import record_heartbeat as record

    return record(listener_id, at_epoch, connection_ids)
