from __future__ import annotations

from django.apps import AppConfig


class MqttConfig(AppConfig):
    name = "mqtt_app"
    label = "mqtt"  # the app label: /admin/mqtt/, `migrate mqtt`
    verbose_name = "MQTT monitor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import access_events, checks  # noqa: F401 - checks registers system checks
        from .alerts import removal
        from .db_session import configure_session

        access_events.connect()
        removal.connect()
        post_migrate.connect(_ensure_schedule, sender=self)
        connection_created.connect(configure_session, dispatch_uid="mqtt.configure_session")


def _ensure_schedule(sender, using: str = "default", **kwargs) -> None:  # noqa: ANN001
    from django.utils import timezone

    from .ingest import partitions
    from .services.schedule import ensure_periodic_tasks

    ensure_periodic_tasks()
    for table in (partitions.readings, partitions.raw_messages):
        table.ensure(timezone.now())  # partitions for today and the days ahead (PostgreSQL)
