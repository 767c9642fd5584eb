"""`python manage.py mqtt_status`: one line per connection: desired, actual, listener, last message."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from mqtt_app.models import MqttConnection


def _age(value) -> str:  # noqa: ANN001 - datetime or None
    if value is None:
        return "never"
    seconds = int((timezone.now() - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


class Command(BaseCommand):
    help = "Show every connection: desired state, actual status, listener, last message."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", help="Only this site (name).")

    def handle(self, *args, site: str | None = None, **options) -> None:
        rows = MqttConnection.objects.select_related("site").order_by("site__name", "name")
        if site:
            rows = rows.filter(site__name=site)
        table = [("ID", "CONNECTION", "DESIRED", "ACTUAL", "LISTENER", "LAST MESSAGE", "DETAIL")]
        for row in rows:
            table.append(
                (
                    str(row.pk),
                    f"{row.site.name}/{row.name}",
                    "active" if row.is_active else "inactive",
                    row.status,
                    row.listener or "-",
                    _age(row.last_message_at),
                    (row.status_detail or "")[:60],
                )
            )
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
