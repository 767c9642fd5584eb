"""Access to the parser registry (mqtt_app.parsers), imported on use: the API loads without it."""

from __future__ import annotations

from typing import Any

from .errors import ApiError


def get_registry() -> Any:
    from mqtt_app.parsers import get_registry as build

    return build()


def parser_names() -> list[str]:
    return list(get_registry().names())


def require_parser(name: str) -> Any:
    """The parser called `name`, or a 404 listing the known ones."""
    registry = get_registry()
    if name not in registry.names():
        raise ApiError(404, f"No parser named {name!r}. Known: {', '.join(sorted(registry.names()))}.")
    return registry.get(name)
