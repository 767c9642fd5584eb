"""Saving through `full_clean()`, so the API rejects exactly what the admin rejects, with the same reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.http import Http404

from mqtt_app import access

from .errors import from_model_error

M = TypeVar("M", bound=models.Model)

UNIQUE_CODES = {"unique", "unique_together"}


def save_validated(
    obj: models.Model, field_names: Mapping[str, str] | None = None, unique_field: str | None = None
) -> None:
    """Validate and save `obj`, or raise a 422 naming the fields (model names mapped through `field_names`).

    `unique_field`: the field to blame for a multi-field uniqueness failure (Django reports those as
    non-field errors, but a client fixes them by changing, say, the name).
    """
    try:
        obj.full_clean()
    except ValidationError as exc:
        if unique_field and NON_FIELD_ERRORS in exc.error_dict:
            _blame_unique(exc, unique_field)
        raise from_model_error(exc, field_names) from None
    with transaction.atomic():
        obj.save()


def _blame_unique(exc: ValidationError, field: str) -> None:
    unique = [e for e in exc.error_dict[NON_FIELD_ERRORS] if e.code in UNIQUE_CODES]
    if not unique:
        return
    exc.error_dict[NON_FIELD_ERRORS] = [e for e in exc.error_dict[NON_FIELD_ERRORS] if e.code not in UNIQUE_CODES]
    if not exc.error_dict[NON_FIELD_ERRORS]:
        del exc.error_dict[NON_FIELD_ERRORS]
    exc.error_dict.setdefault(field, []).extend(unique)


def get_for(user: Any, queryset: models.QuerySet, pk: Any, what: str, role: str = access.VIEWER) -> Any:  # noqa: ANN401
    """The object `pk` of `queryset` if `user` may see it (else 404, as if it did not exist) and holds `role` on
    its site (else 403)."""
    obj = get_or_404(access.filter_for(user, queryset), pk, what)
    if role != access.VIEWER:
        access.require(user, obj, role, what)
    return obj


def get_or_404(queryset: models.QuerySet[M], pk: int, what: str) -> M:
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404(f"No {what} with id {pk}.")
    return obj
