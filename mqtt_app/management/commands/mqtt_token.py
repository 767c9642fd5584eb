"""`manage.py mqtt_token <username> [--name N] [--expires-days D]`: issue an API bearer token and print it (once);
`--list` shows the user's tokens, `--revoke NAME` revokes one."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mqtt_app.models import ApiToken
from mqtt_app.models.tokens import hash_token
from mqtt_app.services import audit


class Command(BaseCommand):
    help = (
        "Issue a new API bearer token for USERNAME and print it on stdout, once (only its hash is stored). "
        "A token of the same --name is replaced and stops working at once; other tokens keep working. "
        "Use it as 'Authorization: Bearer <token>'. --list shows the user's tokens, --revoke NAME revokes one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="An existing, active user.")
        parser.add_argument("--name", default="", help="What the token is for (default: a generated name).")
        parser.add_argument("--expires-days", type=int, default=None, help="Days until it expires (default: never).")
        parser.add_argument("--list", action="store_true", help="List the user's tokens instead.")
        parser.add_argument("--revoke", metavar="NAME", help="Revoke the user's token of that name instead.")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create one with: manage.py createsuperuser")
        if options["list"]:
            for token in ApiToken.objects.filter(user=user).order_by("-created_at"):
                expires = token.expires_at.isoformat() if token.expires_at else "never"
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                self.stdout.write(f"{token.name}\t{token.prefix}…\texpires {expires}\tlast used {used}")
            return
        if options["revoke"]:
            revoked = ApiToken.objects.filter(user=user, name=options["revoke"]).first()
            if revoked is None:
                raise CommandError(f"{username} has no token named {options['revoke']!r}.")
            revoked.delete()
            target = f"token {revoked.name!r} ({revoked.prefix}…) of {username}"
            audit.record(None, "token.revoke", site_id=None, target=target, via="cli")
            self.stderr.write(f"revoked {username}'s token {options['revoke']!r}.")
            return
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: a token would not work.")
        days = options["expires_days"]
        assert days is None or isinstance(days, int)  # argparse: type=int
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1.")
        name = str(options["name"]).strip()
        replaced = bool(name) and ApiToken.objects.filter(user=user, name=name).exists()
        expiry = timezone.now() + timedelta(days=days) if days else None
        raw = ApiToken.issue(user, name, expiry)
        issued = ApiToken.objects.get(key_hash=hash_token(raw))
        changes = {"expires_at": {"old": None, "new": expiry.isoformat() if expiry else None}}
        target = f"token {issued.name!r} ({issued.prefix}…) of {username}"
        audit.record(None, "token.create", site_id=None, target=target, changes=changes, via="cli")
        # The token alone on stdout, so `TOKEN=$(manage.py mqtt_token alice)` works; notes go to stderr.
        self.stdout.write(raw)
        note = f"replaced the token {name!r}" if replaced else "new token"
        role = "staff: may change things" if user.is_staff else "not staff: read-only"
        self.stderr.write(f"{note} for {username} ({role}); it is not shown again.")
