"""System checks: bad configuration fails at start, not later."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def check_mqtt_settings(app_configs, **kwargs):  # noqa: ANN001 - Django's signature
    errors = []
    if settings.MQTT_RECONNECT_MIN_DELAY > settings.MQTT_RECONNECT_MAX_DELAY:
        errors.append(
            Error(
                "MQTT_RECONNECT_MIN_DELAY is larger than MQTT_RECONNECT_MAX_DELAY.",
                hint="Set the minimum reconnect delay below the maximum.",
                id="mqtt.E001",
            )
        )
    if settings.MQTT_LISTENER_TTL <= settings.MQTT_LISTENER_HEARTBEAT:
        errors.append(
            Error(
                "MQTT_LISTENER_TTL must be longer than MQTT_LISTENER_HEARTBEAT, or live listeners look dead.",
                hint="Use a TTL of at least three heartbeats.",
                id="mqtt.E002",
            )
        )
    if not settings.DEBUG and not settings.FLOWER_BASIC_AUTH:
        errors.append(
            Error(
                "FLOWER_BASIC_AUTH must be set when DEBUG is off (Flower must not be open to anyone).",
                hint="Set FLOWER_BASIC_AUTH=user:password.",
                id="mqtt.E003",
            )
        )
    return errors


@register()
def check_parser_registry(app_configs, **kwargs):  # noqa: ANN001 - Django's signature
    """Duplicate parser names, bad dotted paths in MQTT_PARSERS or broken entry points fail at start."""
    from mqtt_app.parsers import check_registry

    try:
        check_registry()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix MQTT_PARSERS or the installed parser packages.", id="mqtt.E004")]
    return []
