"""`mqtt_bench_api` prints its figures and leaves no data behind (its numbers are not asserted: a benchmark)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from mqtt_app.models import MqttConnection, Site

pytestmark = pytest.mark.django_db


def test_the_api_benchmark_reports_percentiles_and_cleans_up():
    out = io.StringIO()
    call_command("mqtt_bench_api", connections=5, requests=3, warmup=1, stdout=out)
    text = out.getvalue()
    assert "list, all 5 in one page (limit=5): wall p50" in text
    assert "p99" in text and "5 item(s) each" in text
    assert not Site.objects.exists()
    assert not MqttConnection.objects.exists()
    assert not get_user_model().objects.filter(username__startswith="bench-api-").exists()
