"""System checks: bad configuration fails at start, not later."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured

CHECK_TIMEOUT = 0.5  # seconds: checks run before every management command
DURABILITY_HINT = (
    "Run the broker's Redis with appendonly yes and maxmemory-policy noeviction, or use RabbitMQ (docs/brokers.md)."
)


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
    if not settings.DEBUG and not (settings.FLOWER_BASIC_AUTH or settings.FLOWER_AUTH_PROVIDER):
        errors.append(
            Error(
                "FLOWER_BASIC_AUTH (or FLOWER_AUTH_PROVIDER) must be set when DEBUG is off (Flower must not be open "
                "to anyone).",
                hint="Set FLOWER_BASIC_AUTH=user:password, or Flower's OAuth settings with FLOWER_AUTH_PROVIDER.",
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


@register()
def check_broker_durability(app_configs, **kwargs):  # noqa: ANN001 - Django's signature
    """Warn when a Redis broker would lose queued batches (restart without persistence, eviction). A warning, never
    an error: Redis may be down while a command starts, and a throwaway development Redis may keep nothing."""
    from mqtt_app.observability import broker

    url = settings.CELERY_BROKER_URL
    if broker.is_amqp(url) or settings.CELERY_TASK_ALWAYS_EAGER:
        return []
    try:
        found = broker.redis_durability(url, timeout=CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - unreachable, refused: say so, start anyway
        return [
            CheckWarning(
                f"Could not ask the broker's Redis whether it keeps queued batches ({exc.__class__.__name__}).",
                hint="Start Redis; /api/health reports its durability once it answers.",
                id="mqtt.W010",
            )
        ]
    return [
        CheckWarning(f"{text[0].upper()}{text[1:]}.", hint=DURABILITY_HINT, id="mqtt.W011") for text in found.warnings
    ]
