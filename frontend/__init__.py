"""The web UI: Django templates, static ES modules and the WebSocket consumers."""
