"""Every topic seen on a connection, parsed or not (auto-discovery).

Ingestion updates every active topic's counters once per batch, so the table is written about once per
message at high rates. It keeps those updates HOT (PostgreSQL rewrites the row in its own page and touches no
index): no index covers a column ingestion changes (`last_seen_at` had one; nothing queried it), and the table
leaves half of each page free (fillfactor 50, set by migration 0002). Measured with `mqtt_bench`: the topic
updates fell from ~23 to ~5 µs of database CPU per message with ten connections.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from .connections import MAX_KEEP_RAW_DAYS, MqttConnection
from .deletion import LockingDeleteModel, LockingDeleteQuerySet

MAX_TOPIC_LENGTH = 1024  # longer topics are counted on the connection but not stored as rows


class MqttTopic(LockingDeleteModel):
    # db_index=False: the unique (connection, topic) index leads with it.
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="topic_rows", db_index=False)
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
    keep_raw_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_KEEP_RAW_DAYS)],
        help_text="Keep raw payloads this many days for re-parsing; empty = the connection's.",
    )

    objects = LockingDeleteQuerySet.as_manager()
    connection_lookup = "connection_id"

    class Meta:
        ordering = ["topic"]
        constraints = [models.UniqueConstraint(fields=["connection", "topic"], name="mqtt_topic_unique_per_connection")]
        indexes = [  # the archive's settings, read by every worker every few seconds (ingest/archive.py)
            models.Index(fields=["keep_raw_days"], name="mqtt_topic_keep_raw", condition=Q(keep_raw_days__isnull=False))
        ]

    def __str__(self) -> str:
        return self.topic

    @property
    def last_payload_text(self) -> str:
        return bytes(self.last_payload).decode("utf-8", errors="replace")
