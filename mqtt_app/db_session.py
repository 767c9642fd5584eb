"""Per-session PostgreSQL settings of this product's database connections (settings.DB_RANDOM_PAGE_COST).

Set once when Django opens a connection, not per transaction: one statement per connection, none per batch.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def configure_session(sender: Any, connection: Any, **kwargs: Any) -> None:  # noqa: ANN401 - signal arguments
    cost = getattr(settings, "DB_RANDOM_PAGE_COST", None)
    if connection.vendor != "postgresql" or cost is None:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('random_page_cost', %s, false)", [str(float(cost))])
