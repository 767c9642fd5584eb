"""Delivery of one message to one channel: a signed webhook POST, an e-mail, or an Apprise notification.

`send(channel_id, message)` raises `DeliveryError` for a failure worth retrying (network, timeout, 5xx, 408,
429); the Celery task retries those with backoff. A permanent refusal (another 4xx) is logged and dropped.
A message that must outlive its channel (the resolutions of a deleted rule) carries the channel `seal`ed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from mqtt_app import crypto

from .models import ChannelType, NotificationChannel
from .targets import TargetRefused, check_before_send, guarded_opener

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mqttmon-Signature"
RETRY_STATUSES = frozenset({408, 429})


class DeliveryError(Exception):
    """A delivery that may succeed if tried again."""


def signature(secret: str, raw: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`: what the receiver recomputes with the channel's secret."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def seal(channel: NotificationChannel) -> str:
    """The channel's type, target and secret, encrypted like them at rest: they travel through the task broker
    when the channel is deleted before its message is sent, and a target may hold a token."""
    return crypto.encrypt(json.dumps({"type": channel.type, "target": channel.target, "secret": channel.secret}))


def unseal(channel_id: int, sealed: str) -> NotificationChannel:
    """The channel as it was when sealed (unsaved: its row may be gone)."""
    data = json.loads(crypto.decrypt(sealed))
    return NotificationChannel(pk=channel_id, type=data["type"], target=data["target"], secret=data["secret"])


def send(channel_id: int, message: dict[str, Any], sealed: str | None = None) -> bool:
    """Deliver; False when the channel no longer exists or refused for good. `sealed`: the channel as it was
    (see `seal`), for a message that must be sent after the channel was deleted."""
    channel = unseal(channel_id, sealed) if sealed else NotificationChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        logger.info("notification channel %s is gone; message dropped", channel_id)
        return False
    senders = {ChannelType.WEBHOOK: send_webhook, ChannelType.EMAIL: send_email, ChannelType.APPRISE: send_apprise}
    try:
        return senders[ChannelType(channel.type)](channel, message)
    except TargetRefused as exc:  # permanent: the same name will not become public by retrying
        logger.warning("channel %s: target refused, message dropped: %s", channel.pk, exc)
        return False


def send_webhook(channel: NotificationChannel, message: dict[str, Any]) -> bool:
    raw = json.dumps(message, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mqttmon-alerts/1",
               SIGNATURE_HEADER: signature(channel.secret, raw)}  # fmt: skip
    request = urllib.request.Request(channel.target, data=raw, headers=headers, method="POST")  # noqa: S310 - http(s) only (validated)
    refused = http_call(guarded_opener(), request, "webhook")
    if refused:
        logger.warning("webhook of channel %s refused the message: %s", channel.pk, refused)
    return not refused


def http_call(opener: urllib.request.OpenerDirector, request: urllib.request.Request, what: str) -> int | None:
    """One request (a webhook, Sentry's API). None when it was taken; the HTTP status of a refusal for good (a 4xx
    other than 408 and 429); DeliveryError for a failure worth retrying (network, timeout, 5xx, 408, 429)."""
    try:
        with opener.open(request, timeout=float(settings.MQTT_ALERT_HTTP_TIMEOUT)) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in RETRY_STATUSES:
            raise DeliveryError(f"{what} answered {exc.code}") from exc
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{what} unreachable: {exc}") from exc
    return None


def send_email(channel: NotificationChannel, message: dict[str, Any]) -> bool:
    recipients = [address.strip() for address in channel.target.split(",") if address.strip()]
    title, text = render(message)
    try:
        send_mail(title, text, settings.DEFAULT_FROM_EMAIL, recipients)
    except OSError as exc:  # smtplib's errors are OSErrors: connection refused, timeout, server said no
        raise DeliveryError(f"e-mail not sent: {exc}") from exc
    return True


def send_apprise(channel: NotificationChannel, message: dict[str, Any]) -> bool:
    import apprise

    check_before_send(channel.type, channel.target)
    notifier = apprise.Apprise()
    if not notifier.add(channel.target):
        logger.warning("channel %s: Apprise does not understand its URL", channel.pk)
        return False
    title, text = render(message)
    if not notifier.notify(body=text, title=title):
        raise DeliveryError("Apprise could not deliver the notification")
    return True


def render(message: dict[str, Any]) -> tuple[str, str]:
    """A title and a plain text for people (e-mail, chat)."""
    if message["state"] == "grouped":
        items = message["alerts"]
        firing = sum(1 for item in items if item["state"] == "firing")
        title = f"[mqttmon] {firing} firing, {len(items) - firing} resolved"
        return title, "\n".join(_line(item) for item in items)
    return f"[mqttmon] {_line(message)}", f"{_line(message)}\nsince {message['since']}\n{message['url']}"


def _line(item: dict[str, Any]) -> str:
    state = "REMINDER firing" if item.get("reminder") else item["state"].upper()
    return f"{state}: {item['rule']['name']}: {item['subject']}"


def test_message(channel: NotificationChannel) -> dict[str, Any]:
    """The message of the "send test" action: the webhook body's shape, state "test"."""
    rule = channel.rule
    return {"state": "test", "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind}, "site": rule.site_id,
            "connection": rule.connection_id, "topic": rule.topic_id, "subject": "a test notification",
            "since": None, "value": None, "url": str(settings.MQTT_PUBLIC_URL).rstrip("/") + "/alerts/",
            "alert": None, "reminder": False}  # fmt: skip
