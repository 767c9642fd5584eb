"""`manage.py mqtt_rotate_secrets`: re-encrypt every stored broker secret with the first key of MQTT_SECRET_KEYS.

Rotation: put the new key first in MQTT_SECRET_KEYS (keep the old one after it), restart, run this, then drop
the old key. Values still in plain text (written before encryption) are encrypted too.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from mqtt_app import crypto
from mqtt_app.models import MqttConnection

SECRET_FIELDS = ("password", "tls_client_key")


class Command(BaseCommand):
    help = "Re-encrypt broker passwords and TLS client keys with the first key of MQTT_SECRET_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only count what is not on the first key yet.")

    def handle(self, *args: object, **options: object) -> None:
        stale = self._stale()
        if options["check"]:
            self.stdout.write(f"{len(stale)} connection(s) hold secrets not encrypted with the first key.")
            return
        for pk in stale:
            with transaction.atomic():
                row = MqttConnection.objects.select_for_update().filter(pk=pk).values(*SECRET_FIELDS).first()
                if row is None:
                    continue
                # Read decrypted, written encrypted with the first key; update() leaves updated_at alone, so
                # listeners do not reconnect for a setting that did not change.
                MqttConnection.objects.filter(pk=pk).update(**row)
        self.stdout.write(f"Re-encrypted the secrets of {len(stale)} connection(s) with the first key.")

    def _stale(self) -> list[int]:
        """Connections with a secret in plain text or under another key than the first (read raw, undecrypted)."""
        from django.db import connection

        table = connection.ops.quote_name(MqttConnection._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, password, tls_client_key FROM {table} ORDER BY id")  # noqa: S608 - our table
            rows = cursor.fetchall()
        return [pk for pk, *values in rows if any(value and crypto.key_in_use(value) != 0 for value in values)]
