"""The NinjaAPI instance, its error format and its routers (OpenAPI at /api/openapi.json, docs at /api/docs)."""

from __future__ import annotations

from ninja import NinjaAPI

from . import (
    alert_rules,
    alerts,
    audit,
    connections,
    control,
    dead_letters,
    health,
    parsers,
    parsing_errors,
    readings,
    reparse,
    series,
    sites,
    sparkplug,
    tokens,
    topics,
)
from .errors import install_handlers
from .renderer import FastJSONRenderer

DESCRIPTION = """\
JSON API of the MQTT monitor.

**Auth**: `Authorization: Bearer <token>` (`python manage.py mqtt_token <username>` prints one; see
`/api/tokens` for your own), or the browser's Django session (send the `csrftoken` cookie's value as
`X-CSRFToken` on POST/PATCH/DELETE).
Access is per site (viewer reads; operator also starts/stops, sets topic parsers, replays dead letters; manager
also edits connections and their credentials); superusers see everything. Anonymous → 401, another site's object →
404, too small a role → 403.

**Errors** all have one shape: `{"detail": "one sentence", "errors": [{"field": "port", "message": "..."}]}`.
Invalid input → 422 (400 for a body that is not JSON), duplicates → 409/422, unknown ids → 404.

**Lists** are pages: `?limit=&offset=` → `{"count", "limit", "offset", "next_offset", "items"}`.

**Bodies** are strict: a field an endpoint does not know is a 422 that names it.
"""

api = NinjaAPI(
    title="MQTT monitor API",
    version="1",
    description=DESCRIPTION,
    openapi_url="/openapi.json",
    docs_url="/docs",
    renderer=FastJSONRenderer(),
)
install_handlers(api)
for module in (health, sites, connections, control, sparkplug, topics, reparse, readings, series, parsing_errors,
               dead_letters, parsers, tokens, audit, alert_rules, alerts):  # fmt: skip
    api.add_router("", module.router)
