"""Reconciliation: converge the listeners' actual state to the database's desired state."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.reconcile.reconcile", ignore_result=True)
def reconcile() -> dict:
    from mqtt_app.services.reconcile import run_reconcile

    return run_reconcile()
