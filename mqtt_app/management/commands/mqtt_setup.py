"""Idempotent set-up run by the Procfile's release phase after `migrate`."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from mqtt_app.ingest import partitions
from mqtt_app.services.schedule import ensure_periodic_tasks


class Command(BaseCommand):
    help = (
        "Create the beat schedule rows (reconcile, retention, alert evaluation) and the readings partitions ahead, "
        "if they are missing."
    )

    def handle(self, *args, **options) -> None:
        ensure_periodic_tasks()
        self.stdout.write(self.style.SUCCESS("Periodic tasks are in place."))
        for table in (partitions.readings, partitions.raw_messages):
            created = table.ensure(timezone.now())
            if created:
                self.stdout.write(f"{table.what.capitalize()} partitions created: {', '.join(created)}.")
