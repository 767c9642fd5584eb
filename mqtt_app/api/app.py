"""The NinjaAPI instance; routers are added by their modules."""
from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="MQTT monitor API", version="1", openapi_url="/openapi.json", docs_url="/docs")
