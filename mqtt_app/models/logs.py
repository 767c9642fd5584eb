"""Database logs: connection events and parse failures (errors kept in the database as well as the log files)."""

from __future__ import annotations

from django.db import models

from .connections import MqttConnection
from .topics import MqttTopic


class ConnectionEvent(models.TextChoices):
    STARTED = "started", "Started"
    STOPPED = "stopped", "Stopped"
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    ERROR = "error", "Error"
    REASSIGNED = "reassigned", "Reassigned"
    SILENT = "silent", "Silent"


class MqttConnectionLog(models.Model):
    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=16, choices=ConnectionEvent.choices)
    status = models.CharField(max_length=16, blank=True)
    detail = models.TextField(blank=True)
    listener = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"], name="mqtt_connlog_conn_created")]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.event} {self.detail}"


class ParseErrorKind(models.TextChoices):
    DECODE = "decode", "Not UTF-8 / undecodable"
    EMPTY = "empty", "Empty payload"
    JSON = "json", "Invalid JSON"
    VALIDATION = "validation", "Validation failed"
    TOO_LARGE = "too_large", "Payload too large"
    PARSER_EXCEPTION = "parser_exception", "Parser raised an exception"
    UNKNOWN_PARSER = "unknown_parser", "Unknown parser"


class MqttParsingLog(models.Model):
    """One parse failure, grouped: a repeated failure (same fingerprint) bumps `count` and `last_seen_at`."""

    connection = models.ForeignKey(MqttConnection, on_delete=models.CASCADE, related_name="parsing_errors")
    topic = models.ForeignKey(
        MqttTopic, on_delete=models.SET_NULL, null=True, blank=True, related_name="parsing_errors"
    )
    topic_name = models.CharField(max_length=1024)
    parser_name = models.CharField(max_length=100, blank=True)
    error_kind = models.CharField(max_length=20, choices=ParseErrorKind.choices)
    message = models.TextField()
    location = models.CharField(max_length=255, blank=True, help_text="First error location, e.g. 'e.0.v'.")
    details = models.JSONField(default=list, blank=True, help_text="Pydantic errors: loc, msg, type.")
    payload_excerpt = models.TextField(blank=True)
    payload_size = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-last_seen_at"], name="mqtt_parselog_conn_last"),
            models.Index(fields=["fingerprint", "-last_seen_at"], name="mqtt_parselog_fp_last"),
            models.Index(fields=["last_seen_at"], name="mqtt_parselog_last"),
        ]

    def __str__(self) -> str:
        return f"{self.topic_name}: {self.error_kind} {self.location}"
