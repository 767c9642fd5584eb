"""A fresh parser registry (and an empty Homie attribute table) for every test."""

from __future__ import annotations

import pytest

from mqtt_app.parsers import get_registry, homie, reset_registry


@pytest.fixture
def registry():
    reset_registry()
    homie.forget_all()
    yield get_registry()
    reset_registry()
    homie.forget_all()
