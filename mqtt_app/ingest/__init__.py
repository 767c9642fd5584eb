"""Ingestion: one listener batch → topics discovered, payloads parsed, readings and errors stored, events sent.

Modules: wire (the batch's wire format, encoded by the listener, decoded here), topics (auto-discovery and
counters), parse (the parser registry per message), persist (bulk rows / PostgreSQL COPY), errors (grouped parse
failures), live (coalesced events), service (the transaction that ties them together), pipeline (the entry
point: `ingest_batch`), retention.
"""
