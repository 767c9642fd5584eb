"""The series of the compacted readings: what a reading row repeats as strings (topic, device, metric, unit, value
type), once per series. Compacted blocks (mqtt_app/history/compaction.py) refer to it by id; they are a
PostgreSQL table of their own (arrays); a trigger deletes them with their series (migration 0019)."""

from __future__ import annotations

from django.db import models

from .readings import ValueType
from .topics import MqttTopic


class ReadingSeries(models.Model):
    id = models.BigAutoField(primary_key=True)
    # Deleted with its topic (Django's cascade); a trigger then deletes the series' blocks. Indexed by the
    # unique constraint, which begins with it.
    topic = models.ForeignKey(MqttTopic, on_delete=models.CASCADE, related_name="series", db_index=False)
    device = models.CharField(max_length=255, blank=True)
    metric = models.CharField(max_length=255)
    unit = models.CharField(max_length=32, blank=True)
    value_type = models.CharField(max_length=8, choices=ValueType.choices, default=ValueType.NUMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "device", "metric", "unit", "value_type"], name="mqtt_series_identity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic_id}/{self.device}/{self.metric}"
