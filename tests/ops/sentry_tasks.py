"""Tasks loaded only by the Sentry test's worker (`--include tests.ops.sentry_tasks`)."""

from __future__ import annotations

from celery import shared_task

from mqtt_app.observability.sentry import set_connection_tags


@shared_task(name="tests.ops.explode")
def explode(connection_id: int, password: str = "", token: str = "") -> None:
    set_connection_tags(connection_id, site="Sentry Site", topic="plant/boiler/state")
    broker_password = password  # a frame local named like a secret: must be filtered
    raise RuntimeError(f"could not connect to mqtt://operator:{broker_password}@broker.example:1883")
