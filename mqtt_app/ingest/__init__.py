"""Ingestion: one listener batch → topics discovered, payloads parsed, readings and errors stored, events sent.

Modules: decode (the batch contract), topics (auto-discovery and counters), parse (the parser registry per
message), persist (bulk rows / PostgreSQL COPY), errors (grouped parse failures), live (coalesced events),
service (the transaction that ties them together), retention, bench (the benchmark).

`ingest_batch`, `store_batch` and `Outcome` are loaded on first use: the benchmark's publisher and reference
subprocesses import `mqtt_app.ingest.bench` without Django set up, so this package must not import models.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Outcome", "ingest_batch", "store_batch"]


def __getattr__(name: str) -> Any:
    if name == "ingest_batch":
        from . import pipeline

        return pipeline.ingest_batch
    if name in __all__:
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
