"""Ingestion: one listener batch → topics discovered, payloads parsed, readings and errors stored, events sent.

Modules: decode (the batch contract), topics (auto-discovery and counters), parse (the parser registry per
message), persist (bulk rows / PostgreSQL COPY), errors (grouped parse failures), live (coalesced events),
service (the transaction that ties them together).
"""
from __future__ import annotations

from .service import Outcome, ingest_batch, store_batch

__all__ = ["Outcome", "ingest_batch", "store_batch"]
