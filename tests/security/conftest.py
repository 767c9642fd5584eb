"""The API tests' users, clients and factories, for the security tests."""

from __future__ import annotations

from tests.api.fixtures import *  # noqa: F403 - fixtures
