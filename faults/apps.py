from __future__ import annotations

from django.apps import AppConfig


class FaultsConfig(AppConfig):
    """An app only so that `python manage.py mqtt_faults` is found; no models."""

    name = "faults"
    verbose_name = "Fault suite"
