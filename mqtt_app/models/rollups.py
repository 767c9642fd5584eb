"""Per-minute and per-hour aggregates of numeric readings per (topic, metric), for long-range charts.

Kept by `mqtt_app.history.rollup` (a beat task), never by ingestion. They depend on the readings only through
(topic, metric, timestamp, value, value_type), so the readings' storage may change under them. A rollup row is
the min, max, sum and count of the numeric readings whose device time falls in [start, start + width).
"""

from __future__ import annotations

from django.db import models

from .topics import MqttTopic

MINUTE = 60
HOUR = 3600


class SeriesRollup(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No database FK, like the readings: the rollups go with their topic (Django's cascade, by the unique index).
    topic = models.ForeignKey(
        MqttTopic, on_delete=models.CASCADE, related_name="rollups", db_constraint=False, db_index=False
    )
    metric = models.CharField(max_length=255)
    width = models.PositiveIntegerField(choices=[(MINUTE, "minute"), (HOUR, "hour")])
    start = models.DateTimeField(help_text="Start of the bucket (device time, aligned to the width).")
    min = models.FloatField()
    max = models.FloatField()
    sum = models.FloatField()
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "metric", "width", "start"], name="mqtt_rollup_bucket"),
        ]
        indexes = [models.Index(fields=["width", "start"], name="mqtt_rollup_age")]  # rollup retention

    def __str__(self) -> str:
        return f"{self.metric}@{self.start:%Y-%m-%d %H:%M} ({self.count})"


class RollupState(models.Model):
    """One row: how far the roll-up has read. `marker` is, on PostgreSQL, the oldest transaction id still running
    when the last run began (rows of that id or newer may have been invisible to it); on SQLite, whose writers
    commit one at a time in id order, the largest reading id it has read."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    marker = models.BigIntegerField(null=True, blank=True)
    ran_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollup state {self.marker}"


class RolledLateReading(models.Model):
    """Readings already added into a closed bucket (one whose raw rows retention may have trimmed, so it is
    added to, not recomputed): a later run that sees them again must not add them twice. Rare by design (device
    time about a month old at arrival); pruned once their receive time is past the look-back window."""

    reading_id = models.BigIntegerField(primary_key=True)
    received_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"late reading {self.reading_id}"
