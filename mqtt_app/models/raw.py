"""The raw-message archive (payloads kept as received, per topic, for `keep_raw_days`) and the re-parse jobs
that turn archived payloads into readings again with a topic's current (or another) parser.

The archive is written in the batch's transaction (a redelivered batch adds nothing), only for topics whose
effective `keep_raw_days` (the topic's own, else its connection's) is above 0: off by default, it costs the
ingest path nothing. Rows carry no database foreign key, like the readings: a topic's delete cascades through
Django, after the connection locks every delete takes first (models/deletion.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .indexes import BrinOnPostgreSQL
from .topics import MqttTopic


class RawMessage(models.Model):
    id = models.BigAutoField(primary_key=True)
    connection_id = models.BigIntegerField()
    topic = models.ForeignKey(
        MqttTopic, on_delete=models.CASCADE, related_name="raw_messages", db_constraint=False, db_index=False
    )
    received_at = models.DateTimeField()
    payload = models.BinaryField()
    qos = models.PositiveSmallIntegerField(default=0)
    retain = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["topic", "received_at"], name="mqtt_raw_topic_received"),  # re-parse, download
            BrinOnPostgreSQL(fields=["received_at"], name="mqtt_raw_received"),  # retention deletes by age
        ]

    def __str__(self) -> str:
        return f"{self.topic_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class ReparseState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ReparseJob(models.Model):
    """One re-parse of a topic's archived payloads over [since, until)."""

    topic = models.ForeignKey(MqttTopic, on_delete=models.CASCADE, related_name="reparse_jobs")
    since = models.DateTimeField()
    until = models.DateTimeField()
    parser_name = models.CharField(max_length=100, help_text="The parser the payloads are re-parsed with.")
    state = models.CharField(max_length=10, choices=ReparseState.choices, default=ReparseState.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Archived messages in the range.")
    done = models.PositiveIntegerField(default=0, help_text="Messages re-parsed so far.")
    readings = models.PositiveIntegerField(default=0, help_text="Readings written so far.")
    failures = models.PositiveIntegerField(default=0, help_text="Messages that still fail to parse.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"re-parse of {self.topic_id} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in {ReparseState.DONE, ReparseState.FAILED, ReparseState.CANCELLED}
