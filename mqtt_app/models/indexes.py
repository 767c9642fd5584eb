"""An index that is BRIN on PostgreSQL and a plain B-tree elsewhere (SQLite has no BRIN).

Django's BrinIndex emits `USING brin` on every backend, which SQLite rejects; the development and test
default is SQLite, so the same migration must create something there too.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class BrinOnPostgreSQL(models.Index):
    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:  # noqa: ANN401
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)
