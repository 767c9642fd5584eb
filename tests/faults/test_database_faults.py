"""The database goes away under ingestion: its sessions are terminated, or PostgreSQL stops for a minute."""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_nothing_lost, brokers_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.mark.parametrize("broker", brokers_of("db_sessions_killed"))
def test_terminated_database_sessions_lose_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("db_sessions_killed", broker))


@pytest.mark.parametrize("broker", brokers_of("postgres_stopped"))
def test_postgresql_stopped_for_a_minute_loses_nothing(run_fault, broker):
    assert_nothing_lost(run_fault("postgres_stopped", broker))
