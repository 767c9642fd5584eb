"""API bearer tokens, one per user, printed by `manage.py mqtt_token <username>`."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """Only the SHA-256 of a token is stored: a leaked database does not leak working credentials."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user) -> str:  # noqa: ANN001
        """Create or replace the user's token and return the raw value (shown once)."""
        raw = secrets.token_urlsafe(32)
        cls.objects.update_or_create(user=user, defaults={"key_hash": hash_token(raw), "prefix": raw[:8]})
        return raw

    @classmethod
    def user_for(cls, raw: str):  # noqa: ANN206
        token = cls.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.user.is_active:
            return None
        return token.user
