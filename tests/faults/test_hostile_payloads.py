"""Hostile payloads (lone surrogates, NUL and control characters, numbers no float holds, deep nesting, one over
MQTT_MAX_PAYLOAD_BYTES) among numbered QoS 1 messages fail none of them."""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("hostile_payloads"))
def test_hostile_payloads_fail_none_of_their_neighbours(run_fault, broker):
    assert_nothing_lost(run_fault("hostile_payloads", broker))
