"""A worker or a listener SIGKILLed mid-stream (and replaced, as a supervisor does) loses nothing."""

from __future__ import annotations

import pytest

from tests.faults.checks import _explain, assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("worker_killed"))
def test_a_killed_worker_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("worker_killed", broker))


@pytest.mark.parametrize("broker", brokers_of("listener_killed"))
def test_a_killed_listener_loses_nothing_and_stores_at_most_its_last_pubacks_twice(run_fault, broker, settings):
    """What the killed listener had queued and not acknowledged is recognised by its records
    (mqtt_app/listener/inflight.py). The window left (docs/delivery.md): PUBACKs written just before the kill that
    the broker had not read yet, lost with the connection's reset; at most MQTT_ACK_WINDOW a connection."""
    result = run_fault("listener_killed", broker)
    assert not result.error and result.sent > 0, _explain(result)
    assert result.lost == 0 and result.recover_s is not None, _explain(result)
    assert result.duplicated <= settings.MQTT_ACK_WINDOW, _explain(result)
