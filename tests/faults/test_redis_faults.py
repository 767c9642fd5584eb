"""Redis restarted, killed (with an append-only file), or away for a minute while the site's broker keeps only
Mosquitto's default 1,000 messages for the listener."""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("redis_restarted"))
def test_a_graceful_redis_restart_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("redis_restarted", broker))


@pytest.mark.parametrize("broker", brokers_of("redis_killed_aof"))
def test_redis_killed_with_an_append_only_file_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("redis_killed_aof", broker))


@pytest.mark.parametrize("broker", brokers_of("redis_away_minute"))
def test_redis_away_for_a_minute_loses_nothing_past_the_site_brokers_queue(run_fault, broker):
    assert_nothing_lost(run_fault("redis_away_minute", broker))
