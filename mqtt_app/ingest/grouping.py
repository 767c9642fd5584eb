"""What groups parse failures: the errors inbox and Sentry use the same key, so one broken device is one group."""

from __future__ import annotations


def group_location(kind: str, location: str) -> str:
    """The part of a failure's location that is not the device's to choose: a JSON syntax error's line and column
    move with every payload (none kept), and array indices in a validation path count as one ('e.17.v' ->
    'e.*.v')."""
    if kind == "json":
        return ""
    return ".".join("*" if part.isdigit() else part for part in location.split("."))
