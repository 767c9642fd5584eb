"""A rule's channels in the API: `{"type": "webhook", "url"}`, `{"type": "email", "to"}`, `{"type": "apprise",
"url"}`, each checked here with a 422 naming `channels.<n>.<field>`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from mqtt_app.alerts.models import ChannelType, NotificationChannel, new_secret
from mqtt_app.alerts.targets import target_error

from .errors import field_error

MAX_CHANNELS = 20
_http_url = URLValidator(schemes=["http", "https"])


def channel_out(channel: NotificationChannel, manager: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": channel.pk, "type": channel.type}
    if manager:
        out["to" if channel.type == ChannelType.EMAIL else "url"] = channel.target
        if channel.type == ChannelType.WEBHOOK:
            out["secret"] = channel.secret
    return out


def channels_from(items: list[dict[str, Any]]) -> list[NotificationChannel]:
    if len(items) > MAX_CHANNELS:
        raise field_error("channels", f"at most {MAX_CHANNELS} channels a rule")
    return [_channel(n, item) for n, item in enumerate(items)]


def _channel(n: int, item: dict[str, Any]) -> NotificationChannel:
    kind = item["type"]
    wanted, unwanted = ("to", "url") if kind == ChannelType.EMAIL else ("url", "to")
    target = (item.get(wanted) or "").strip()
    if not target:
        raise field_error(f"channels.{n}.{wanted}", f"a {kind} channel needs {wanted!r}")
    if item.get(unwanted) is not None:
        raise field_error(f"channels.{n}.{unwanted}", f"a {kind} channel takes {wanted!r}, not {unwanted!r}")
    if item.get("secret") is not None and kind != ChannelType.WEBHOOK:
        raise field_error(f"channels.{n}.secret", "only webhooks are signed")
    problem = _target_error(kind, target) or target_error(kind, target)
    if problem:
        raise field_error(f"channels.{n}.{wanted}", problem)
    return NotificationChannel(type=kind, target=target, secret=item.get("secret") or new_secret())


def _target_error(kind: str, target: str) -> str | None:
    if kind == ChannelType.WEBHOOK:
        try:
            _http_url(target)
        except ValidationError:
            return "must be an http:// or https:// URL"
        return None
    if kind == ChannelType.EMAIL:
        for address in target.split(","):
            try:
                validate_email(address.strip())
            except ValidationError:
                return "must be e-mail addresses, comma-separated"
        return None
    import apprise

    if apprise.Apprise.instantiate(target) is None:
        return "Apprise does not understand this URL (see https://github.com/caronc/apprise/wiki)"
    return None
