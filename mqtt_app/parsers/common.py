"""Helpers shared by the built-in parsers: flattening JSON into metric paths, timestamps, finite floats."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from .base import ParseFailure

# A float that refuses NaN and ±Infinity at validation time (so the error carries its location).
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

MAX_FLATTEN_DEPTH = 8  # deeper JSON values are ignored by flattening: rarely telemetry, often blobs
MAX_FIELDS = 256  # readings one flattened message may produce; more is a runaway publisher

# Epoch values above this are taken as milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MILLISECONDS_THRESHOLD = 1e11
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC).timestamp()
_LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()

Leaf = float | int | bool | str


def flatten(
    data: Any,
    *,
    prefix: str = "",
    keep: Callable[[Any], bool] | None = None,
    lists: bool = True,
    skip_keys: frozenset[str] = frozenset(),
    max_depth: int = MAX_FLATTEN_DEPTH,
    max_fields: int = MAX_FIELDS,
) -> list[tuple[str, Leaf]]:
    """[("a.b.0", value), ...] for the leaves of nested dicts/lists that `keep` accepts (default: numbers
    and booleans). Levels beyond `max_depth` are ignored; more than `max_fields` leaves is a ParseFailure.
    """
    out: list[tuple[str, Leaf]] = []
    _collect(data, prefix, keep or is_number_or_bool, lists, skip_keys, max_depth, max_fields, out)
    return out


def _collect(
    node: Any,
    path: str,
    keep: Callable[[Any], bool],
    lists: bool,
    skip_keys: frozenset[str],
    depth: int,
    max_fields: int,
    out: list[tuple[str, Leaf]],
) -> None:
    # Plain recursion appending to one list: about twice as fast as chained generators (hot path).
    if isinstance(node, dict):
        if depth > 0:
            for key, child in node.items():
                if key not in skip_keys:
                    child_path = f"{path}.{key}" if path else str(key)
                    _collect(child, child_path, keep, lists, _NO_KEYS, depth - 1, max_fields, out)
    elif isinstance(node, list):
        if depth > 0 and lists:
            for index, child in enumerate(node):
                child_path = f"{path}.{index}" if path else str(index)
                _collect(child, child_path, keep, lists, _NO_KEYS, depth - 1, max_fields, out)
    elif keep(node):
        if len(out) >= max_fields:
            raise ParseFailure.invalid(path, f"more than {max_fields} values in one message", "too_many_fields")
        out.append((path, node))


_NO_KEYS: frozenset[str] = frozenset()


def is_number_or_bool(value: Any) -> bool:
    return isinstance(value, int | float)  # bool is an int


def on_off(value: Any) -> Any:
    """Tasmota and Zigbee2MQTT switch states: "ON"/"OFF" become booleans, anything else is unchanged."""
    if value == "ON":
        return True
    if value == "OFF":
        return False
    return value


def epoch_to_datetime(value: float, milliseconds: bool = True) -> datetime | None:
    """Epoch seconds (or milliseconds, when implausibly large for seconds) to UTC; None when out of range."""
    if not math.isfinite(value):
        return None
    if milliseconds and value > _MILLISECONDS_THRESHOLD:
        value /= 1000.0
    if not _EARLIEST <= value < _LATEST:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """A device timestamp: epoch number or ISO 8601 text with an offset. None when absent or unusable.

    Text without an offset is refused: it is the device's local time in an unknown zone, and guessing UTC
    would shift readings by hours. The receive time is the honest fallback.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return epoch_to_datetime(float(value))
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None
