"""Parser registry and the built-in parsers. The contract other pieces use:

from mqtt_app.parsers import get_registry, Reading, ParseFailure

registry = get_registry()
parser = registry.claim(topic, payload)            # Parser | None
readings = registry.run(parser.name, topic, payload, received_at)   # or raises ParseFailure
"""

from __future__ import annotations

from .base import ParseFailure, Parser, Reading, UnknownParser
from .registry import ParserRegistry, check_registry, get_registry
from .registry import reset as reset_registry

__all__ = [
    "ParseFailure",
    "Parser",
    "ParserRegistry",
    "Reading",
    "UnknownParser",
    "check_registry",
    "get_registry",
    "reset_registry",
]
