"""Benchmarks: figures printed, nothing asserted (docs/benchmarks.md). Kept out of `mqtt_app/`, the product.

Nothing here imports Django at package level: the ingestion benchmark's publisher and reference subprocesses
run `python -m bench.ingest.publisher` without settings."""
