"""Validation of MQTT topic filters, topic names and connection topic lists (MQTT 3.1.1 §4.7, 5.0 §4.7)."""

from __future__ import annotations

from typing import Any

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
