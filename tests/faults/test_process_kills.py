"""A worker or a listener SIGKILLed mid-stream (and replaced, as a supervisor does) loses nothing."""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("worker_killed"))
def test_a_killed_worker_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("worker_killed", broker))


@pytest.mark.parametrize("broker", brokers_of("listener_killed"))
def test_a_killed_listener_loses_nothing_and_stores_nothing_twice(run_fault, broker):
    """The site's broker sends the killed listener's unacknowledged messages again to the next one; those it had
    queued already are recognised by their records (mqtt_app/listener/inflight.py) and not queued again."""
    assert_nothing_lost(run_fault("listener_killed", broker))
