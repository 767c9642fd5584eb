"""The `mqtt` Django app: models, admin, API, parser registry, listener and management commands."""
