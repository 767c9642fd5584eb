"""The archive and re-parse tests: ingestion's and the API's fixtures."""

from __future__ import annotations

import pytest

from tests.api.fixtures import staff_client, staff_user  # noqa: F401 - fixtures
from tests.ingest.fixtures import *  # noqa: F403 - fixtures
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401 - the lifecycle tests' fixtures


@pytest.fixture(autouse=True)
def _fresh_archive_policy():
    """Each test's settings are read at its first batch (the policy is cached per process for a few seconds)."""
    from mqtt_app.ingest import archive

    archive.policy.forget()
    yield
    archive.policy.forget()
