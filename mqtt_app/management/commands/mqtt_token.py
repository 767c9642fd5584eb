"""`manage.py mqtt_token <username>`: issue an API bearer token and print it (once)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mqtt_app.models import ApiToken


class Command(BaseCommand):
    help = (
        "Issue a new API bearer token for USERNAME and print it on stdout, once (only its hash is stored). "
        "This REPLACES the user's previous token, which stops working at once. "
        "Use it as 'Authorization: Bearer <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="An existing, active user.")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create one with: manage.py createsuperuser")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: a token would not work.")
        replaced = ApiToken.objects.filter(user=user).exists()
        raw = ApiToken.issue(user)
        # The token alone on stdout, so `TOKEN=$(manage.py mqtt_token alice)` works; notes go to stderr.
        self.stdout.write(raw)
        note = "replaced the previous token" if replaced else "new token"
        role = "staff: may change things" if user.is_staff else "not staff: read-only"
        self.stderr.write(f"{note} for {username} ({role}); it is not shown again.")
