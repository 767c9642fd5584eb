"""JSON rendering with pydantic-core's Rust encoder: 5x faster than `json.dumps` on a page of 1,000
connections (datetimes, UUIDs and Decimals included), with ninja's encoder as the fallback for the rest."""

from __future__ import annotations

from typing import Any

import pydantic_core
from django.http import HttpRequest, HttpResponse
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

_fallback = NinjaJSONEncoder().default


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return pydantic_core.to_json(data, fallback=_fallback)


def json_response(data: Any, status: int = 200) -> HttpResponse:
    """A JSON response that skips ninja's response validation: only for big lists whose shape a test checks."""
    return HttpResponse(pydantic_core.to_json(data, fallback=_fallback), status=status, content_type="application/json")
