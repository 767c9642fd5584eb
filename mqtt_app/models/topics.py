"""Every topic seen on a connection, parsed or not (auto-discovery)."""

from __future__ import annotations

from django.db import models

from .connections import MqttConnection

MAX_TOPIC_LENGTH = 1024  # longer topics are counted on the connection but not stored as rows


class MqttTopic(models.Model):
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="topic_rows")
    topic = models.CharField(max_length=MAX_TOPIC_LENGTH)
    is_processable = models.BooleanField(default=False, help_text="Parse this topic's payloads into readings.")
    parser_name = models.CharField(max_length=100, blank=True, help_text="Parser in use; empty = automatic.")
    parser_locked = models.BooleanField(
        default=False, help_text="Set by a person: automatic parser detection leaves this topic alone."
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    message_count = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)
    last_payload = models.BinaryField(default=b"", blank=True)
    last_payload_size = models.PositiveIntegerField(default=0)
    last_qos = models.PositiveSmallIntegerField(default=0)
    retained = models.BooleanField(default=False)

    class Meta:
        ordering = ["topic"]
        constraints = [models.UniqueConstraint(fields=["connection", "topic"], name="mqtt_topic_unique_per_connection")]
        indexes = [models.Index(fields=["connection", "-last_seen_at"], name="mqtt_topic_conn_lastseen")]

    def __str__(self) -> str:
        return self.topic

    @property
    def last_payload_text(self) -> str:
        return bytes(self.last_payload).decode("utf-8", errors="replace")
