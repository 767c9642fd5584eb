"""Account pages that depend on configuration: the password-reset pages answer only when mail can be sent.

Without EMAIL_HOST a reset request would "succeed" and send nothing (Django's default backend is SMTP on
localhost), telling anyone which addresses have accounts by timing and leaving users waiting for a mail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

PASSWORD_RESET_VIEWS = frozenset(
    {"password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete"}
)


def password_reset_available() -> bool:
    return bool(settings.EMAIL_HOST)


class PasswordResetNeedsEmailMiddleware:
    """404 for django.contrib.auth's password-reset views while EMAIL_HOST is empty, wherever they are mounted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:  # noqa: ANN401
        match = request.resolver_match
        if match is not None and match.url_name in PASSWORD_RESET_VIEWS and not password_reset_available():
            raise Http404("Password reset is not available: no mail server is configured.")
