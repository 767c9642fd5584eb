from __future__ import annotations

from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
    verbose_name = "MQTT monitor web UI"

    def ready(self) -> None:
        # Open pages learn of connections created, changed or deleted by any process that saves them.
        from mqtt_app.services.announce import connect_signals

        connect_signals()
