"""Observability: Prometheus metrics, the success metrics, Sentry helpers."""
