"""The site's MQTT broker (persistence on) restarts mid-stream: the listener's persistent session brings back
what was queued or in flight for it."""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("mqtt_broker_restarted"))
def test_a_restarted_mqtt_broker_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("mqtt_broker_restarted", broker))
