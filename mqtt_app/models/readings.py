"""Parsed telemetry and the record of ingested batches (for idempotent redelivery)."""

from __future__ import annotations

from django.db import models

from .connections import MqttConnection
from .topics import MqttTopic


class ValueType(models.TextChoices):
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    TEXT = "text", "Text"


class TelemetryReading(models.Model):
    id = models.BigAutoField(primary_key=True)
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="readings")
    topic = models.ForeignKey(MqttTopic, on_delete=models.CASCADE, related_name="readings")
    device = models.CharField(max_length=255, blank=True)
    metric = models.CharField(max_length=255)
    value_type = models.CharField(max_length=8, choices=ValueType.choices, default=ValueType.NUMBER)
    value = models.FloatField(null=True, blank=True, help_text="Numbers; booleans as 1.0/0.0.")
    text_value = models.TextField(blank=True)
    unit = models.CharField(max_length=32, blank=True)
    timestamp = models.DateTimeField(help_text="Device time when the payload has one, else receive time.")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["topic", "metric", "-timestamp"], name="mqtt_reading_topic_metric_ts"),
            models.Index(fields=["connection", "-timestamp"], name="mqtt_reading_conn_ts"),
            models.Index(fields=["timestamp"], name="mqtt_reading_ts"),  # retention deletes by age
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.display_value}"

    @property
    def display_value(self) -> object:
        if self.value_type == ValueType.TEXT:
            return self.text_value
        if self.value_type == ValueType.BOOLEAN:
            return bool(self.value)
        return self.value


class IngestBatch(models.Model):
    """One ingested listener batch. Inserted in the batch's transaction, so a redelivery stores nothing twice."""

    id = models.UUIDField(primary_key=True)
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="batches")
    message_count = models.PositiveIntegerField()
    reading_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.message_count} messages)"
