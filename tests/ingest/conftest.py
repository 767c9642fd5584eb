"""Fixtures for the ingestion tests: a connection, test parsers, a connection held by a real listener."""

from __future__ import annotations

import pytest

from tests.ingest.fixtures import *  # noqa: F403 - fixtures
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401 - the lifecycle tests' fixtures

TEST_PARSERS = ["tests.ingest.parsers.ExplodingParser", "tests.ingest.parsers.StallingParser"]


@pytest.fixture
def process_env(process_env, tmp_path):
    """Worker processes load the test parsers, know the stall marker, and redeliver unacked work quickly."""
    process_env.update(
        MQTT_PARSERS=",".join(TEST_PARSERS),
        INGEST_TEST_MARKER=str(tmp_path / "stalled"),
        CELERY_VISIBILITY_TIMEOUT="10",
    )
    return process_env


@pytest.fixture
def test_parsers(settings):
    settings.MQTT_PARSERS = TEST_PARSERS  # the registry rebuilds on this setting change
