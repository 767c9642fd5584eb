"""Domain services: small functions that tasks, the API, the admin and commands call."""
