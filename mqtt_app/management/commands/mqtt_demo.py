"""Create (once) a demo site with an active connection to the local broker, subscribed to what mqtt_simulate
publishes. `make run` calls it, then starts the simulator next to the other processes, so a new user sees
live data, discovered topics, charts and a few parse errors within seconds."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from mqtt_app.management.commands.mqtt_simulate import TOPIC_FILTERS
from mqtt_app.management.migrated import require_migrated
from mqtt_app.models import MqttConnection, Site
from mqtt_app.services.control import request_reconcile

SITE_NAME = "Demo site"
CONNECTION_NAME = "Local simulator"


class Command(BaseCommand):
    help = "Create the demo site and its connection to the local broker (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1883)

    def handle(self, *args, host: str, port: int, **options) -> None:
        require_migrated()
        topics = [{"filter": topic_filter, "qos": 1} for topic_filter in TOPIC_FILTERS]
        with transaction.atomic():
            site, _ = Site.objects.get_or_create(
                name=SITE_NAME, defaults={"description": "Simulated devices (python manage.py mqtt_simulate)."}
            )
            existing = MqttConnection.objects.filter(site=site, name=CONNECTION_NAME).first()
            created = existing is None
            # Active from the start; on later runs the operator's start/stop choice is left alone.
            connection = existing or MqttConnection(site=site, name=CONNECTION_NAME, is_active=True)
            connection.host, connection.port, connection.topics = host, port, topics
            try:
                connection.full_clean()
            except ValidationError as exc:
                raise CommandError(f"invalid demo connection: {'; '.join(exc.messages)}") from exc
            connection.save()
            request_reconcile()
        verb = "Created" if created else "Updated"
        state = "active" if connection.is_active else "stopped (start it in the UI)"
        self.stdout.write(self.style.SUCCESS(f"{verb} {site.name} / {connection.name} -> {host}:{port}, {state}."))
