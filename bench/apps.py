from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """An app only so that the `mqtt_bench*` management commands are found; no models."""

    name = "bench"
    verbose_name = "Benchmarks"
