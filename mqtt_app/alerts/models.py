"""Alert rules, their notification channels, and alert instances (firing → acknowledged → resolved).

A rule always belongs to a site (the one access is decided by); a rule on a connection or a topic also names
it, and its site is derived. At most one alert is open per rule and subject: a partial unique constraint, so two
evaluations running at once cannot open the same alert twice.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from mqtt_app.crypto import EncryptedTextField
from mqtt_app.models.connections import MqttConnection, Site
from mqtt_app.models.topics import MqttTopic


class RuleKind(models.TextChoices):
    CONNECTION_DOWN = "connection_down", "Connection down"
    TOPIC_SILENT = "topic_silent", "Topic silent"
    PARSE_ERRORS = "parse_errors", "Parse errors"
    ERROR_RATE = "error_rate", "Error rate"  # the application's own: dead letters out of a connection's messages
    THRESHOLD = "threshold", "Threshold"
    DEVICE_OFFLINE = "device_offline", "Device offline"


class Op(models.TextChoices):
    GT = "gt", "above"
    LT = "lt", "below"


class AlertState(models.TextChoices):
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class ChannelType(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "E-mail"
    APPRISE = "apprise", "Apprise URL"


class AlertRule(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alert_rules")
    connection = models.ForeignKey(
        MqttConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    topic = models.ForeignKey(MqttTopic, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules")
    filter = models.CharField(max_length=1024, blank=True, help_text="MQTT topic filter narrowing the topics.")
    metric = models.CharField(max_length=255, blank=True, help_text="Threshold rules: the reading's metric.")
    op = models.CharField(max_length=2, choices=Op.choices, blank=True)
    value = models.FloatField(
        null=True, blank=True, help_text="Threshold; parse_errors: the failed ratio (0-1); topic_silent: k."
    )
    clear_value = models.FloatField(null=True, blank=True, help_text="Threshold rules: the value that clears.")
    for_seconds = models.PositiveIntegerField(default=60, help_text="How long before firing (parse_errors: window).")
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(topic__isnull=True) | models.Q(connection__isnull=False),
                name="mqtt_alertrule_topic_has_connection",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        from .validation import rule_errors

        errors = rule_errors(self)
        if errors:
            raise ValidationError(errors)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class NotificationChannel(models.Model):
    """Where a rule's alerts are sent. Targets may hold tokens (a Slack or Telegram URL), so they are encrypted
    at rest like broker passwords and shown to the site's managers only."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="channels")
    type = models.CharField(max_length=10, choices=ChannelType.choices)
    target = EncryptedTextField(help_text="The webhook or Apprise URL, or the e-mail address(es), comma-separated.")
    secret = EncryptedTextField(blank=True, default=new_secret, help_text="Webhooks: the HMAC-SHA256 key.")

    class Meta:
        ordering = ["rule", "id"]

    def __str__(self) -> str:
        return f"{self.type} of {self.rule_id}"

    def clean(self) -> None:
        super().clean()
        from .targets import target_error

        if self.target and (problem := target_error(self.type, self.target)):
            raise ValidationError({"target": problem})


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alerts")
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    topic = models.ForeignKey(MqttTopic, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    subject_key = models.CharField(max_length=200, help_text="What the alert is about, e.g. 'topic:12'.")
    subject = models.CharField(max_length=300, help_text="The same, in words.")
    state = models.CharField(max_length=12, choices=AlertState.choices, default=AlertState.FIRING)
    value = models.FloatField(null=True, blank=True)
    since = models.DateTimeField(help_text="When the condition began.")
    fired_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_by_name = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="mqtt_alert_one_open_per_subject",
            )
        ]
        indexes = [models.Index(fields=["site", "state"], name="mqtt_alert_site_state")]

    def __str__(self) -> str:
        return f"{self.rule} on {self.subject} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
