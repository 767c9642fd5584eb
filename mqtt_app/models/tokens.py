"""API bearer tokens: several per user, each named, with an optional expiry and the time it was last used.

Issued by `manage.py mqtt_token <username>` or `POST /api/tokens`; revoked by their owner (`DELETE /api/tokens/{id}`)
or an administrator. Only the SHA-256 of a token is stored: a leaked database does not leak working credentials.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'grafana' or 'ci'.")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="mqtt_api_token_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} {self.prefix}… ({self.user})"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @classmethod
    def issue(cls, user, name: str = "", expires_at: datetime | None = None) -> str:  # noqa: ANN001
        """Create a token for `user` and return the raw value (shown once). A name the user already gave another
        token replaces that one (it stops working at once); no name: a fresh one like 'token-3f9a1c2b'."""
        raw = secrets.token_urlsafe(32)
        name = name.strip() or f"token-{raw[:8]}"
        cls.objects.update_or_create(
            user=user,
            name=name,
            defaults={"key_hash": hash_token(raw), "prefix": raw[:8], "expires_at": expires_at, "last_used_at": None},
        )
        return raw

    @classmethod
    def user_for(cls, raw: str):  # noqa: ANN206
        """The active user a current (unexpired) token belongs to, or None."""
        token = (
            cls.objects.select_related("user")
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), key_hash=hash_token(raw))
            .first()
        )
        if token is None or not token.user.is_active:
            return None
        return token.user
