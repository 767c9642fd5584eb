"""Observability: Prometheus metrics, the seed's success metrics, Sentry helpers."""
