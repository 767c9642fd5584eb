"""Test settings: the real settings with test-only environment defaults (own Redis db and key prefix)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("REDIS_KEY_PREFIX", "mqttmon-test")
os.environ.setdefault("LOG_DIR", os.path.join(tempfile.gettempdir(), "mqttmon-test-logs"))
os.environ.setdefault("DEBUG", "true")
# Playwright's sync API keeps an event loop in the main thread; the ORM must still be usable there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from project.settings import *  # noqa: E402,F403
from project.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so worker and listener processes started by tests share the test database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("SQLITE_TEST_PATH", os.path.join(tempfile.gettempdir(), "mqttmon-test.sqlite3"))
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
