"""The API tests' users, clients and factories, for the security tests."""

from __future__ import annotations

from tests.api.conftest import (  # noqa: F401 - fixtures
    anon_client,
    make_connection,
    make_site,
    make_topic,
    staff_client,
    staff_token,
    staff_user,
    viewer_client,
    viewer_user,
)
