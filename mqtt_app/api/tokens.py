"""API tokens: `GET /api/tokens` (the caller's own), `POST /api/tokens` (the value is shown once),
`DELETE /api/tokens/{id}` (revoke), and for a site's managers `GET /api/sites/{id}/tokens` (the tokens of the
people holding a role there, which they may revoke too: mqtt_app.access.token_owners). A token the caller may not
revoke is a 404, never a 403: ids tell nothing.

Creating a token needs the browser session: a stolen token must not be able to mint longer-lived ones.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja import Field, Router, Status

from mqtt_app import access
from mqtt_app.models import ApiToken, SiteRole
from mqtt_app.services import audit

from . import auth
from .auth import ApiRequest
from .errors import field_error
from .schemas import ERRORS_READ, ERRORS_WRITE, In, Out
from .writes import get_or_404

logger = logging.getLogger(__name__)
router = Router(tags=["tokens"], auth=auth.readers())
MAX_DAYS = 3650


class TokenOut(Out):
    id: int
    user: str = Field(description="The owner's username.")
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: never expires.")
    last_used_at: datetime | None = Field(description="To the minute; null: never used.")
    expired: bool


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The bearer token. Shown this once: only its hash is stored.")


class TokenIn(In):
    name: str = Field(min_length=1, max_length=100, description="What it is for; unique among your tokens.")
    expires_in_days: int | None = Field(None, ge=1, le=MAX_DAYS, description="Null: never expires.")


def token_out(token: ApiToken) -> dict:
    return {
        "id": token.pk, "user": token.user.username, "name": token.name, "prefix": token.prefix,
        "created_at": token.created_at, "expires_at": token.expires_at, "last_used_at": token.last_used_at,
        "expired": token.expired,
    }  # fmt: skip


@router.get("/tokens", response={200: list[TokenOut], **ERRORS_READ}, summary="Your API tokens")
def list_tokens(request: ApiRequest) -> list[dict]:
    tokens = ApiToken.objects.filter(user=request.auth).select_related("user")
    return [token_out(token) for token in tokens.order_by("-created_at", "-id")]


@router.get(
    "/sites/{site_id}/tokens", response={200: list[TokenOut], **ERRORS_READ},
    summary="The API tokens of the people holding a role on a site (its managers)",
)  # fmt: skip
def site_tokens(request: ApiRequest, site_id: int) -> list[dict]:
    access.require_site(request.auth, site_id, access.MANAGER)
    people = SiteRole.objects.filter(site_id=site_id).values("user_id")
    tokens = ApiToken.objects.filter(user__in=access.token_owners(request.auth)).filter(user__in=people)
    return [token_out(token) for token in tokens.select_related("user").order_by("user__username", "name")]


@router.post(
    "/tokens", response={201: TokenCreatedOut, **ERRORS_WRITE}, auth=[auth.SessionAuth()],
    summary="Create an API token for yourself (browser session only)",
)  # fmt: skip
def create_token(request: ApiRequest, payload: TokenIn) -> Status:
    name = payload.name.strip()
    if not name or any(not char.isprintable() for char in name):
        raise field_error("name", "must be printable text")
    if ApiToken.objects.filter(user=request.auth, name=name).exists():
        raise field_error("name", "you already have a token of that name; revoke it first", status=409)
    expires = timezone.now() + timedelta(days=payload.expires_in_days) if payload.expires_in_days else None
    try:
        with transaction.atomic():
            raw = ApiToken.issue(request.auth, name, expires)
    except IntegrityError:
        raise field_error("name", "you already have a token of that name; revoke it first", status=409) from None
    token = ApiToken.objects.get(user=request.auth, name=name)
    audit.record(request.auth, "token.create", site_id=None, target=f"token {name!r} ({token.prefix}…)",
                 changes={"expires_at": {"old": None, "new": expires.isoformat() if expires else None}})  # fmt: skip
    logger.info("API token %s (%s) created by %s", token.pk, token.prefix, request.auth)
    return Status(201, {**token_out(token), "token": raw})


@router.delete(
    "/tokens/{token_id}", response={204: None, **ERRORS_WRITE},
    summary="Revoke an API token: your own, or one of a person on a site you manage",
)  # fmt: skip
def revoke_token(request: ApiRequest, token_id: int) -> Status:
    tokens = ApiToken.objects.filter(user__in=access.token_owners(request.auth)).select_related("user")
    token = get_or_404(tokens, token_id, "token")
    own = token.user_id == request.auth.pk
    token.delete()
    site_id = None if own else access.managing_site(request.auth, token.user_id)
    owner = "" if own else f" of {token.user.username}"
    audit.record(request.auth, "token.revoke", site_id=site_id, target=f"token {token.name!r} ({token.prefix}…){owner}")
    logger.info("API token %s (%s)%s revoked by %s", token_id, token.prefix, owner, request.auth)
    return Status(204, None)
