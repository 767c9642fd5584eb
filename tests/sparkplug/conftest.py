"""A connection, and ingestion's per-process memory emptied for each test (as in tests/ingest)."""

from __future__ import annotations

from tests.ingest.fixtures import *  # noqa: F403 - fixtures
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401
