"""Fixtures for the API tests (defined in tests/api/fixtures.py, shared with tests/security)."""

from __future__ import annotations

from tests.api.fixtures import *  # noqa: F403 - fixtures
