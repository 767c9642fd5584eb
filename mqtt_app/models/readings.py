"""Parsed telemetry and the record of ingested batches (for idempotent redelivery).

TelemetryReading is the hot table (several rows per message at thousands of messages a second), so it carries
only what its queries need (the figures behind each choice: docs/ingest-design.md):
- no database-level foreign keys: a deferred check per row cost more database CPU than the rows themselves.
  Django still cascades deletes, and every delete of a site, connection or topic first locks the connection
  rows that ingestion locks for its whole transaction (see `lock_connections`), so a reading can never be
  committed for a row being deleted;
- one B-tree besides the primary key, (topic, time): what the topic page, the API and the cascade delete of a
  topic read. A connection's readings are read through its topics' index (api/reading_queries.py) and deleted
  with its topics, since a (connection, time) index cost a third of the database's CPU per message;
- retention by `received_at` through a BRIN index: rows arrive in that order, so a few pages replace a B-tree
  that grew with every row (and a device clock set to 2099 cannot make a row immortal).
"""

from __future__ import annotations

import uuid

from django.db import models

from .connections import MqttConnection
from .indexes import BrinOnPostgreSQL
from .topics import MqttTopic


class ValueType(models.TextChoices):
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    TEXT = "text", "Text"


class TelemetryReading(models.Model):
    id = models.BigAutoField(primary_key=True)
    # DO_NOTHING: a connection's readings go with its topics (every reading's topic is of its connection), by
    # the topic index; a cascade of its own would scan the whole table, which has no connection index.
    connection = models.ForeignKey(
        MqttConnection, on_delete=models.DO_NOTHING, related_name="readings", db_constraint=False, db_index=False
    )
    topic = models.ForeignKey(
        MqttTopic, on_delete=models.CASCADE, related_name="readings", db_constraint=False, db_index=False
    )
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
            # A topic's readings newest first (the topic page, the API): its metric is filtered, not indexed.
            models.Index(fields=["topic", "-timestamp"], name="mqtt_reading_topic_ts"),
            BrinOnPostgreSQL(fields=["received_at"], name="mqtt_reading_received"),  # retention deletes by age
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
    """One connection's part of an ingested listener batch (a batch carries the messages of every connection a
    listener holds). Inserted in the batch's transaction, so a redelivery stores nothing twice; per connection,
    so the health report counts each connection's own messages (/metrics reads the connection's counters,
    which the same statement bumps: they do not fall when retention deletes these rows).

    The row of the batch's first connection has the batch's id; the others `part_id(batch, connection)`.
    No database FK, and deleting a connection leaves its rows (retention removes them): a redelivered batch
    must still find them, or its other connections' parts would be stored twice.
    """

    id = models.UUIDField(primary_key=True)
    batch = models.UUIDField(null=True, blank=True, help_text="The listener batch this part belongs to.")
    connection = models.ForeignKey(
        MqttConnection, on_delete=models.DO_NOTHING, related_name="batches", db_constraint=False
    )
    message_count = models.PositiveIntegerField()
    reading_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(db_index=True)
    # A claim without readings: this batch could not be stored whole and is stored as smaller batches (their
    # ids derived from this one's); a redelivery that meets this row goes straight to those parts.
    split = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.message_count} messages)"

    @staticmethod
    def part_id(batch_id: uuid.UUID, connection_id: int, first: bool) -> uuid.UUID:
        return batch_id if first else uuid.uuid5(batch_id, str(connection_id))
