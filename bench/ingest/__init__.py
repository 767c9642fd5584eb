"""The ingestion benchmark (`python manage.py mqtt_bench`): a private broker, listener and workers, a mix of
payload conventions at fixed rates, and per-phase figures (docs/benchmarks.md)."""
