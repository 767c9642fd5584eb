"""Helpers of the parser tests: fixture payloads, a failure catcher, reading tuples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mqtt_app.parsers import ParseFailure

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def failure_of(registry, name: str, topic: str, payload: bytes) -> ParseFailure:
    with pytest.raises(ParseFailure) as caught:
        registry.run(name, topic, payload, RECEIVED_AT)
    return caught.value


def as_tuples(readings) -> list[tuple]:
    return [(r.device, r.metric, r.value, r.unit) for r in readings]
