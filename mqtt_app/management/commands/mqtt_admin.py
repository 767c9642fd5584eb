"""Create the first admin user for `make run` and print its password (kept in var/admin-password, mode 600)."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser (default 'admin') with a random password, or print the one created before."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", default=str(settings.BASE_DIR / "var" / "admin-password"))

    def handle(self, *args, username: str, password_file: str, **options) -> None:
        users = get_user_model()
        path = Path(password_file)
        if users.objects.filter(username=username).exists():
            if path.exists():
                password = path.read_text().strip()
                self._print(username, password)
            else:
                self.stdout.write(
                    f"User {username!r} exists; set its password with: python manage.py changepassword {username}"
                )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        self._print(username, password)

    def _print(self, username: str, password: str) -> None:
        self.stdout.write(self.style.SUCCESS(f"Admin login: {username} / {password}  (http://127.0.0.1:8000/admin/)"))
