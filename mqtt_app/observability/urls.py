"""Observability: Prometheus metrics, the success metrics, Sentry helpers."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("health/metrics.json", views.health_metrics_json, name="health-metrics"),
]
