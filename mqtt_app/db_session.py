"""Per-session PostgreSQL settings of this product's database connections (settings.DB_RANDOM_PAGE_COST,
settings.DB_BACKEND_FLUSH_AFTER and settings.DB_JIT; project/settings.py says why each).

Set once when Django opens a connection, not per transaction: one statement per connection, none per batch.
Both are settings any role may change for its own session, so no privilege is needed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def session_settings() -> dict[str, str]:
    """The PostgreSQL settings each session sets, as set_config takes them; a None setting keeps the server's."""
    wanted: dict[str, str] = {}
    cost = getattr(settings, "DB_RANDOM_PAGE_COST", None)
    if cost is not None:
        wanted["random_page_cost"] = str(float(cost))
    flush_after = getattr(settings, "DB_BACKEND_FLUSH_AFTER", None)
    if flush_after is not None:
        wanted["backend_flush_after"] = f"{int(flush_after)}kB"
    jit = getattr(settings, "DB_JIT", None)
    if jit is not None:
        wanted["jit"] = "on" if jit else "off"
    return wanted


def configure_session(sender: Any, connection: Any, **kwargs: Any) -> None:  # noqa: ANN401 - signal arguments
    wanted = session_settings()
    if connection.vendor != "postgresql" or not wanted:
        return
    calls = ", ".join("set_config(%s, %s, false)" for _ in wanted)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {calls}", [part for item in wanted.items() for part in item])  # noqa: S608 - placeholders only
