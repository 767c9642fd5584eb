"""Reconnect delays: exponential, capped, jittered."""

from __future__ import annotations

from mqtt_app.listener.client import backoff_delay


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter():
    samples = {attempt: [backoff_delay(attempt, 1.0, 60.0) for _ in range(200)] for attempt in range(12)}
    assert all(0.5 <= d <= 1.0 for d in samples[0])
    assert all(4.0 <= d <= 8.0 for d in samples[3])
    assert all(30.0 <= d <= 60.0 for d in samples[11])
    assert len(set(samples[3])) > 100  # jitter: many listeners don't retry in lockstep


def test_backoff_survives_absurd_attempt_counts():
    assert 30.0 <= backoff_delay(10_000, 1.0, 60.0) <= 60.0
