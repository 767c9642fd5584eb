"""A worker or a listener SIGKILLed mid-stream (and replaced, as a supervisor does) loses nothing."""

from __future__ import annotations

import pytest

from tests.faults.checks import _explain, assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("worker_killed"))
def test_a_killed_worker_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("worker_killed", broker))


@pytest.mark.parametrize("broker", brokers_of("listener_killed"))
def test_a_killed_listener_loses_nothing_and_stores_at_most_its_last_batch_twice(run_fault, broker, settings):
    """The one duplicate window left (docs/delivery.md): a listener killed after the queue took a batch and
    before its PUBACKs left. The site's broker sends those messages again to the next listener; at most one
    batch, which holds at most MQTT_ACK_WINDOW unacknowledged messages of a connection."""
    result = run_fault("listener_killed", broker)
    assert not result.error and result.sent > 0, _explain(result)
    assert result.lost == 0 and result.recover_s is not None, _explain(result)
    assert result.duplicated <= settings.MQTT_ACK_WINDOW, _explain(result)
