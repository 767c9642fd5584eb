"""`mqtt_bench --alert-rules N`: N threshold rules that never fire watch the benchmark's connections."""

from __future__ import annotations

import os

import pytest

from bench.ingest.run import IngestBench
from mqtt_app.alerts.models import AlertRule


@pytest.mark.django_db
def test_the_benchmark_spreads_its_alert_rules_over_its_connections():
    bench = IngestBench(lambda line: None, 1, dict(os.environ), alert_rules=3)
    bench.setup_rows(2)
    rules = list(AlertRule.objects.order_by("name").values_list("connection_id", "kind", "value"))
    assert rules == [(bench.connections[0], "threshold", 1e9), (bench.connections[1], "threshold", 1e9),
                     (bench.connections[0], "threshold", 1e9)]  # fmt: skip
    bench.cleanup()
    assert not AlertRule.objects.exists()
