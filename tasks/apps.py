from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    label = "mqtt_tasks"
    verbose_name = "MQTT monitor tasks"
