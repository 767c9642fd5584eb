"""Sentry set-up, called from settings only when SENTRY_DSN is set (every process: web, worker, beat, listener).

The reconcile task as a cron monitor: `CeleryIntegration(monitor_beat_tasks=True)` cannot watch it, because
Sentry Crons only accepts whole-minute intervals and reconcile ticks every MQTT_RECONCILE_INTERVAL (30 s): the
integration would log a warning on every tick and send nothing. So reconcile is excluded there and reported as
a heartbeat monitor `mqtt-reconcile` instead (one check-in per minute from the worker, for beat-started runs
only, ERROR when it fails). Other beat tasks with minute-or-longer schedules (retention, hourly) stay on
`monitor_beat_tasks`. A stopped beat then shows as a missed check-in within a few minutes.
"""

from __future__ import annotations

import logging

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

# PeriodicTask names (regexes) left to the explicit heartbeat monitor; see the module docstring.
EXCLUDED_BEAT_TASKS = [r"reconcile"]


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str | None,
    traces_sample_rate: float,
) -> None:
    from mqtt_app.observability.sentry import scrub_breadcrumb, scrub_event

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        before_send=scrub_event,  # type: ignore[arg-type] # Event is a TypedDict; scrub_event takes any dict
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
        max_request_body_size="never",  # form posts carry broker passwords
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=True, exclude_beat_tasks=EXCLUDED_BEAT_TASKS),
            LoggingIntegration(event_level=logging.ERROR),
        ],
    )
    _connect_reconcile_monitor()


def _connect_reconcile_monitor() -> None:
    from celery.signals import task_failure, task_success

    from mqtt_app.observability.sentry import reconcile_check_in

    # weak=False: the receiver is a module function, but keep it alive whatever imports it.
    task_success.connect(reconcile_check_in, weak=False, dispatch_uid="mqttmon-reconcile-ok")
    task_failure.connect(reconcile_check_in, weak=False, dispatch_uid="mqttmon-reconcile-error")
