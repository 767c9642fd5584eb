"""Limit/offset pages: `{"count", "limit", "offset", "next_offset", "items"}` for every list of the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import BaseModel, create_model

from .schemas import Out

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    offset: int = Field(0, ge=0, description="Items to skip (use the previous page's next_offset).")


class PageBase(Out):
    count: int | None = Field(description="Items in the whole list; null where counting would be too slow.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, null on the last page.")


def page_of(item: type[BaseModel], name: str) -> type[PageBase]:
    """A page schema for `item`, named for the OpenAPI document."""
    return create_model(name, __base__=PageBase, items=(list[item], ...))  # type: ignore[valid-type] # built at run time


def paginate(
    queryset: QuerySet | list,
    limit: int,
    offset: int,
    render: Callable[[Any], Any] = lambda row: row,
    *,
    count: bool = True,
) -> dict[str, Any]:
    # One row more than asked tells whether a next page exists without counting.
    rows = list(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    if count:
        # The first page that holds everything already knows the total.
        total: int | None = len(rows) if offset == 0 and not more else _count(queryset)
    else:
        total = None
    return {
        "count": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
        "items": [render(row) for row in rows[:limit]],
    }


def _count(rows: QuerySet | list) -> int:
    return len(rows) if isinstance(rows, list) else rows.count()


def filter_by(queryset: QuerySet, filters: Schema, lookups: dict[str, str]) -> QuerySet:
    """Apply each filter the client gave (not None, not empty) as `lookups[name]=value`."""
    for name, lookup in lookups.items():
        value = getattr(filters, name)
        if value is not None and value != "":
            queryset = queryset.filter(**{lookup: value})
    return queryset
