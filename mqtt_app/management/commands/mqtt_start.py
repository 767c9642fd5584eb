"""`python manage.py mqtt_start <id|name> ...`: set is_active (the desired state), request a reconcile."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from ._connection_args import set_active_command


class Command(BaseCommand):
    help = "Start connections: set is_active (the desired state) and request a reconcile."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connections", nargs="+", help="Connection id, name, or site/name.")

    def handle(self, *args, connections: list[str], **options) -> None:
        set_active_command(self, connections, True)
