"""Validation of MQTT topic filters, topic names and connection topic lists (MQTT 3.1.1 §4.7, 5.0 §4.7), and of
what a connection sends to a broker: host names (and the optional allow-list), client ids, credentials."""

from __future__ import annotations

import ipaddress
import unicodedata
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError
from paho.mqtt.client import topic_matches_sub

MAX_TOPIC_BYTES = 65535


def topic_filter_error(topic_filter: str) -> str | None:
    """The reason `topic_filter` is not a valid MQTT subscription filter, or None when it is."""
    if not isinstance(topic_filter, str) or topic_filter == "":
        return "a topic filter must be a non-empty string"
    if len(topic_filter.encode("utf-8")) > MAX_TOPIC_BYTES:
        return "a topic filter must be at most 65535 bytes"
    if "\x00" in topic_filter:
        return "a topic filter must not contain the NUL character"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level and the last one (e.g. 'sensors/#')"
        if "+" in level and level != "+":
            return "'+' must be a whole level (e.g. 'sensors/+/temperature')"
    return None


def topic_name_error(topic: str) -> str | None:
    """The reason `topic` is not a valid topic name to publish to, or None."""
    if not isinstance(topic, str) or topic == "":
        return "a topic must be a non-empty string"
    if "+" in topic or "#" in topic:
        return "a topic name must not contain the wildcards '+' or '#'"
    if "\x00" in topic:
        return "a topic must not contain the NUL character"
    return None


def validate_topic_filter(value: str) -> None:
    reason = topic_filter_error(value)
    if reason:
        raise ValidationError(f"Invalid topic filter {value!r}: {reason}.", code="invalid_topic_filter")


def validate_subscriptions(value: Any) -> None:
    """A connection's `topics`: a non-empty list of {"filter": str, "qos": 0|1|2}, no duplicate filters."""
    if not isinstance(value, list) or not value:
        raise ValidationError('Topics must be a non-empty list like [{"filter": "sensors/#", "qos": 1}].')
    seen: set[str] = set()
    for position, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"filter", "qos"} or "filter" not in item:
            raise ValidationError(f'Topic #{position + 1} must be an object with "filter" and optional "qos".')
        reason = topic_filter_error(item["filter"])
        if reason:
            raise ValidationError(f"Topic #{position + 1} {item['filter']!r}: {reason}.", code="invalid_topic_filter")
        qos = item.get("qos", 1)
        if qos not in (0, 1, 2) or isinstance(qos, bool):
            raise ValidationError(f"Topic #{position + 1} {item['filter']!r}: qos must be 0, 1 or 2.")
        if item["filter"] in seen:
            raise ValidationError(f"Topic filter {item['filter']!r} is listed twice.")
        seen.add(item["filter"])


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a topic name matches a subscription filter (paho's implementation of MQTT's rules)."""
    return topic_matches_sub(topic_filter, topic)


# --- connection fields ------------------------------------------------------------------------------------------
PEM_WHITESPACE = frozenset("\t\n\r")


def _control_character(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    for char in value:
        if char not in allowed and unicodedata.category(char) == "Cc":
            return f"U+{ord(char):04X}"
    return None


def validate_no_control_characters(value: str) -> None:
    """Client ids and credentials: a control character (NUL, newline, ESC...) is never meant, and some brokers
    and log viewers read it as the end of the value or as a terminal command."""
    found = _control_character(value or "")
    if found:
        raise ValidationError(f"Must not contain control characters (found {found}).", code="control_characters")


def validate_pem_text(value: str) -> None:
    """PEM text: line breaks and tabs, no other control character."""
    found = _control_character(value or "", PEM_WHITESPACE)
    if found:
        raise ValidationError(f"Must not contain control characters (found {found}).", code="control_characters")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def host_matches(host: str, pattern: str) -> bool:
    """Whether a broker host matches one MQTT_ALLOWED_BROKER_HOSTS entry: a CIDR (literal addresses only: names
    are not resolved here), an address, or a host name with optional `*` wildcards (case-insensitive)."""
    host, pattern = host.strip().rstrip(".").lower(), pattern.strip().rstrip(".").lower()
    address = _ip(host)
    if "/" in pattern:
        try:
            network = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
        return address is not None and address.version == network.version and address in network
    if _ip(pattern) is not None:
        return address is not None and address == _ip(pattern)
    return address is None and fnmatchcase(host, pattern)


def broker_host_error(host: str) -> str | None:
    """The reason `host` may not be a connection's broker host, or None."""
    host = (host or "").strip()
    if not host:
        return "The broker host must not be empty."
    if _control_character(host) or any(c.isspace() for c in host) or "/" in host:
        return "The broker host must be a host name or IP address, without scheme, path or control characters."
    allowed = settings.MQTT_ALLOWED_BROKER_HOSTS
    if allowed and not any(host_matches(host, pattern) for pattern in allowed):
        return "This broker host is not in MQTT_ALLOWED_BROKER_HOSTS."
    return None


@register()
def check_allowed_broker_hosts(app_configs, **kwargs):  # noqa: ANN001, ANN201 - Django's signature
    errors = []
    for pattern in settings.MQTT_ALLOWED_BROKER_HOSTS:
        if "/" in pattern:
            try:
                ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                errors.append(Error(f"MQTT_ALLOWED_BROKER_HOSTS: {pattern!r} is not a valid CIDR.", id="mqtt.E021"))
    return errors
