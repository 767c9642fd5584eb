"""Idempotent set-up run by the Procfile's release phase after `migrate`."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from mqtt_app.services.schedule import ensure_periodic_tasks


class Command(BaseCommand):
    help = "Create the beat schedule rows (reconcile, retention, alert evaluation) if they are missing."

    def handle(self, *args, **options) -> None:
        ensure_periodic_tasks()
        self.stdout.write(self.style.SUCCESS("Periodic tasks are in place."))
