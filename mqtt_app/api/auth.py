"""Who may call the API: a bearer token (`manage.py mqtt_token`) or the browser's Django session.

Every endpoint needs an active logged-in user (anonymous → 401); what that user may see and change is decided
per site by mqtt_app.access (another site's object → 404, too small a role → 403). Session requests with an
unsafe method must pass Django's CSRF check (a bearer token is never sent by a
browser on its own, so it needs none).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError, HttpError
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from mqtt_app.models import ApiToken
from mqtt_app.models.tokens import hash_token

logger = logging.getLogger(__name__)


class ApiRequest(HttpRequest):
    """A request as ninja hands it to an operation: `auth` is what the auth class returned, the user."""

    auth: Any


SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write the token row on every request
_touched: dict[str, float] = {}  # token hash -> monotonic time this process last recorded a use


class TokenAuth(AuthBase):
    """`Authorization: Bearer <token>`. A wrong token is a 401 (no silent fall back to the session)."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        user = ApiToken.user_for(raw.strip()) if raw.strip() else None
        if user is None:
            raise AuthenticationError(message="Invalid or revoked API token.")
        _touch(raw.strip())
        return user


def _touch(raw: str) -> None:
    """Record when the token was last used, at most once a minute per process (not a write per request)."""
    key_hash = hash_token(raw)
    now = time.monotonic()
    if now - _touched.get(key_hash, -math.inf) < LAST_USED_RESOLUTION.total_seconds():
        return
    _touched[key_hash] = now
    stale = timezone.now() - LAST_USED_RESOLUTION
    ApiToken.objects.filter(key_hash=key_hash).exclude(last_used_at__gt=stale).update(last_used_at=timezone.now())


class SessionAuth(AuthBase):
    """The Django session cookie, with a CSRF check for unsafe methods."""

    openapi_type = "apiKey"
    openapi_in = "cookie"

    def __init__(self) -> None:
        self.openapi_name = settings.SESSION_COOKIE_NAME
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header.")
        return user


def readers() -> list[AuthBase]:
    return [TokenAuth(), SessionAuth()]
