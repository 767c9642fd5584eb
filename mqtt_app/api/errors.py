"""One error format for every failure of the API: `{"detail": "...", "errors": [{"field": ..., "message": ...}]}`.

Pydantic (request parsing; a body that is not JSON is ninja's 400), Django model validation (`full_clean`,
shared with the admin), authentication and database conflicts all end up in that shape, so a client reads
one thing. Messages never echo the submitted
value: a rejected password must not come back in a response or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger(__name__)

# Where ninja says an input came from; the first element of a Pydantic error location.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


class ApiError(Exception):
    """Raised by endpoints: answered as `{"detail": detail, "errors": errors}` with `status`."""

    def __init__(self, status: int, detail: str, errors: Iterable[Mapping[str, Any]] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [dict(error) for error in errors]


def field_error(field: str | None, message: str, status: int = 422) -> ApiError:
    return ApiError(status, f"Invalid {field}: {message}" if field else message, [{"field": field, "message": message}])


def from_model_error(exc: DjangoValidationError, field_names: Mapping[str, str] | None = None) -> ApiError:
    """A `full_clean()` failure, with model field names translated to the API's (e.g. tls_ca_certs → tls.ca_certs)."""
    names = field_names or {}
    errors: list[dict[str, Any]] = []
    for name, messages in exc.message_dict.items():
        field = None if name == NON_FIELD_ERRORS else names.get(name, name)
        errors.extend({"field": field, "message": message} for message in messages)
    summary = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return ApiError(422, f"Invalid input. {summary}", errors)


def _field_from_location(location: Iterable[Any]) -> str | None:
    parts = [str(part) for part in location]
    if parts and parts[0] in _SOURCES:
        source = parts.pop(0)
        # A body schema is one parameter: its name ("payload") says nothing to the client.
        if source == "body" and len(parts) > 1:
            parts.pop(0)
    return ".".join(parts) or None


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field (this endpoint does not take it; check the spelling)"
    return str(error.get("msg", ""))


def from_request_error(exc: NinjaValidationError) -> ApiError:
    errors = [{"field": _field_from_location(e.get("loc", ())), "message": _message(e)} for e in exc.errors]
    summary = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else str(e["message"]) for e in errors)
    return ApiError(422, f"Invalid input. {summary}", errors)


def _respond(request: HttpRequest, api: NinjaAPI, error: ApiError) -> HttpResponse:
    return api.create_response(request, {"detail": error.detail, "errors": error.errors}, status=error.status)


def install_handlers(api: NinjaAPI) -> None:
    handlers = {
        ApiError: lambda exc: exc,
        NinjaValidationError: from_request_error,
        DjangoValidationError: from_model_error,
        HttpError: lambda exc: ApiError(exc.status_code, exc.message),
        Http404: lambda exc: ApiError(404, "Not found."),
        # mqtt_app.access: the object is visible to the caller, the change needs a bigger role on its site.
        PermissionDenied: lambda exc: ApiError(403, str(exc) or "Not allowed."),
        # A race lost to another request between full_clean() and save(): same answer as a duplicate.
        IntegrityError: lambda exc: ApiError(409, "The change conflicts with existing data (duplicate?)."),
    }
    for exc_class, convert in handlers.items():
        api.add_exception_handler(exc_class, partial(_handle, api=api, convert=convert))


def _handle(request: HttpRequest, exc: Exception, *, api: NinjaAPI, convert: Any) -> HttpResponse:
    return _respond(request, api, convert(exc))
