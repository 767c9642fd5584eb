"""Messages that could not be stored, kept whole so that a person can replay them once the cause is fixed.

A message lands here when storing it failed for a reason that is not transient (the rest of its batch was
stored: mqtt_app/ingest/isolate.py), or when its batch still failed after every retry. Nothing is dropped
silently: each row holds the raw payload, the error, and where it came from.
"""

from __future__ import annotations

from django.db import models

from .connections import MqttConnection


class DeadLetter(models.Model):
    # Deterministic (derived from the batch id and the message's place in it): a redelivered batch that fails
    # the same way adds no second row.
    id = models.UUIDField(primary_key=True)
    batch = models.UUIDField(help_text="The listener batch the message came in.")
    connection = models.ForeignKey(
        MqttConnection, on_delete=models.DO_NOTHING, related_name="dead_letters", db_constraint=False
    )
    topic = models.TextField()
    payload = models.BinaryField(default=b"", blank=True)
    qos = models.PositiveSmallIntegerField(default=0)
    retain = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    error_kind = models.CharField(max_length=40)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    replay_count = models.PositiveIntegerField(default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"dead letter {self.topic!r} ({self.error_kind})"
