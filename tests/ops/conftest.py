"""Ops tests: no cached health report or Sentry throttle carried from one test to the next."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_observability_state(settings):
    from mqtt_app.observability import metrics
    from mqtt_app.observability.sentry import reset_throttle

    settings.METRICS_HEALTH_CACHE_SECONDS = 0
    metrics._health_cache.clear()
    reset_throttle()
    yield
