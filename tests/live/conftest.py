"""Fixtures for the live-view tests: a connection, and the ingest batches of tests/ingest."""

from __future__ import annotations

import pytest

from tests.ingest.conftest import connection, make_batch  # noqa: F401 - fixtures and helper shared with ingest

__all__ = ["connection", "make_batch"]


@pytest.fixture(autouse=True)
def _fresh_live_state(monkeypatch):
    """Per-process memory of the live events starts empty: rolled-back tests reuse ids."""
    from mqtt_app.ingest import live

    monkeypatch.setattr(live, "_coalescer", live.Coalescer())
    monkeypatch.setattr(live, "_topics", live.TopicStream())
    monkeypatch.setattr(live, "_rates", live.RateMeter())
    monkeypatch.setattr(live, "_watchers", live.Watchers())
