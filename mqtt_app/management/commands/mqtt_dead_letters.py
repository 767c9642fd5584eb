"""`python manage.py mqtt_dead_letters [--list] [--replay ID ...|--replay-all] [--connection ID]`.

Lists the dead letters (messages that could not be stored), or replays them through services/dead_letters.py:
each is stored at most once, however often this runs. `--replay-all` replays those not stored yet.
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mqtt_app.models import DeadLetter
from mqtt_app.services.dead_letters import pending, replay


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"not a dead letter id (a UUID): {value!r}") from None


class Command(BaseCommand):
    help = "List dead letters, or replay them (each stored at most once)."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help="List them (the default).")
        action.add_argument("--replay", nargs="+", metavar="ID", type=_uuid, help="Replay these dead letters.")
        action.add_argument("--replay-all", action="store_true", help="Replay every one not stored yet.")
        parser.add_argument("--connection", type=int, help="Only this connection's (id).")

    def handle(
        self, *args, replay: list[uuid.UUID] | None, replay_all: bool, connection: int | None, **options
    ) -> None:
        if replay is not None or replay_all:
            ids = replay if replay is not None else list(pending().order_by("created_at").values_list("pk", flat=True))
            if connection is not None and replay is not None:
                ids = list(DeadLetter.objects.filter(pk__in=ids, connection_id=connection).values_list("pk", flat=True))
            elif connection is not None:
                ids = list(pending().filter(connection_id=connection).values_list("pk", flat=True))
            self._replay(ids)
        else:
            self._list(connection)

    def _list(self, connection: int | None) -> None:
        rows = DeadLetter.objects.defer("payload").order_by("-created_at")
        if connection is not None:
            rows = rows.filter(connection_id=connection)
        count = 0
        for row in rows.iterator():
            count += 1
            state = row.replay_result or "not replayed"
            self.stdout.write(
                f"{row.pk}  {row.created_at:%Y-%m-%d %H:%M:%S}  conn {row.connection_id}  {row.topic[:60]}  "
                f"{row.error_kind}: {row.error[:80]}  [{state[:60]}]"
            )
        self.stdout.write(f"{count} dead letter(s).")

    def _replay(self, ids: list[uuid.UUID]) -> None:
        results = replay(ids, via="cli")  # recorded in the audit trail as "cli"
        for result in results:
            detail = f": {result.detail}" if result.detail else ""
            self.stdout.write(f"{result.id}  {result.status}{detail}")
        failed = [r for r in results if r.status in ("failed", "error", "not_found")]
        self.stdout.write(f"{len(results) - len(failed)} of {len(results)} stored (or stored before).")
        if failed:
            raise CommandError(f"{len(failed)} dead letter(s) not stored.")
