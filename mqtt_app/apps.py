from __future__ import annotations

from django.apps import AppConfig


class MqttConfig(AppConfig):
    name = "mqtt_app"
    label = "mqtt"  # the seed's app label: /admin/mqtt/, `migrate mqtt`
    verbose_name = "MQTT monitor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401 - registers system checks

        post_migrate.connect(_ensure_schedule, sender=self)


def _ensure_schedule(sender, using: str = "default", **kwargs) -> None:  # noqa: ANN001
    from .services.schedule import ensure_periodic_tasks

    ensure_periodic_tasks()
