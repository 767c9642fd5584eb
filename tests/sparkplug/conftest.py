"""A connection, and ingestion's per-process memory emptied for each test (as in tests/ingest)."""

from __future__ import annotations

from tests.ingest.conftest import _fresh_process_state, connection, live_connection  # noqa: F401
from tests.lifecycle.listeners import fast_reader, listener_factory  # noqa: F401
