"""Browser-test fixtures (filled in by the web UI work)."""
