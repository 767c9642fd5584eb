"""Sparkplug B state per connection: each edge node and device with its BIRTH certificate, online state and
counters, and each host application's STATE (docs/sparkplug.md).

Written only by ingestion, under the lock of the connection's row and in the batch's transaction, so births
apply in message order, a redelivered batch (rolled back as a duplicate) changes nothing, and a restarted
listener or worker finds the aliases where it left them.
"""

from __future__ import annotations

from django.db import models

from .connections import MqttConnection


class SparkplugNode(models.Model):
    """An edge node (`device` empty) or one of its devices."""

    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="sparkplug_nodes")
    group = models.CharField(max_length=255)
    edge_node = models.CharField(max_length=255)
    device = models.CharField(max_length=255, blank=True, help_text="Empty for the edge node itself.")
    is_online = models.BooleanField(default=False)
    bd_seq = models.BigIntegerField(null=True, blank=True, help_text="The birth/death sequence of the session.")
    last_seq = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Edge node: the last seq seen.")
    metrics = models.JSONField(
        default=list, blank=True, help_text="The BIRTH certificate: name, alias, datatype, unit."
    )
    births = models.PositiveIntegerField(default=0)
    seq_gaps = models.PositiveIntegerField(default=0, help_text="Edge node: messages whose seq skipped a number.")
    data_before_birth = models.PositiveIntegerField(default=0, help_text="DATA messages before any BIRTH.")
    unresolved_metrics = models.PositiveIntegerField(default=0, help_text="DATA metrics no BIRTH named.")
    stale_deaths = models.PositiveIntegerField(default=0, help_text="NDEATHs of an older session (bdSeq), ignored.")
    last_birth_at = models.DateTimeField(null=True, blank=True)
    last_death_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Written after the batch's commit by mqtt_app/sparkplug/rebirth.py, never by the batch itself.
    rebirths_requested = models.PositiveIntegerField(default=0, help_text="Edge node: Rebirth commands sent.")
    last_rebirth_request_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["group", "edge_node", "device"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "group", "edge_node", "device"], name="mqtt_sparkplug_node_unique"
            )
        ]

    def __str__(self) -> str:
        return "/".join(part for part in (self.group, self.edge_node, self.device) if part)


class SparkplugHost(models.Model):
    """A host application's `spBv1.0/STATE/<host>` as last published."""

    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="sparkplug_hosts")
    host = models.CharField(max_length=255)
    is_online = models.BooleanField(default=False)
    timestamp = models.DateTimeField(null=True, blank=True, help_text="The host's own time of the state.")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["host"]
        constraints = [models.UniqueConstraint(fields=["connection", "host"], name="mqtt_sparkplug_host_unique")]

    def __str__(self) -> str:
        return self.host
