"""`python manage.py mqtt_listener [--id ID] [--capacity N]`: run one listener process (see ARCHITECTURE.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Hold the MQTT connections assigned to this listener; heartbeat into Redis; batch messages to Celery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", dest="listener_id", help="Stable listener id (default: <hostname>-<pid>).")
        parser.add_argument("--capacity", type=int, help="Most connections to hold (default MQTT_LISTENER_CAPACITY).")

    def handle(self, *args, listener_id: str | None = None, capacity: int | None = None, **options) -> None:
        import gc

        from mqtt_app.listener.service import ListenerService

        if capacity is not None and capacity < 1:
            self.stderr.write("--capacity must be at least 1")
            raise SystemExit(2)
        service = ListenerService(listener_id=listener_id, capacity=capacity)
        gc.freeze()  # the start-up heap is never garbage: collections need not walk it (see project/celery.py)
        service.run()
