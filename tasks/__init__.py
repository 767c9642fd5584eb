"""Celery tasks: thin wrappers that take ids or plain data and call services in mqtt_app."""
