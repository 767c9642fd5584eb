"""Sites and their broker connections: `is_active` is the desired state, `status` the actual one."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.text import slugify

from mqtt_app.crypto import EncryptedTextField
from mqtt_app.validators import (
    broker_host_error,
    validate_no_control_characters,
    validate_pem_text,
    validate_subscriptions,
)

from .deletion import LockingDeleteModel, LockingDeleteQuerySet


def default_topics() -> list[dict]:
    return [{"filter": "#", "qos": 1}]


def new_client_id() -> str:
    """`mqttmon-` and 56 random bits: 22 characters, within the 23 every MQTT 3.1.1 broker must accept. Another
    client on the broker that guessed the id could take over the monitor's session; a row id is easy to guess."""
    return f"mqttmon-{secrets.token_hex(7)}"


class Site(LockingDeleteModel):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LockingDeleteQuerySet.as_manager()
    connection_lookup = "connections__pk"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:200] or "site"
        super().save(*args, **kwargs)


class ConnectionStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    CONNECTED = "connected", "Connected"
    RECONNECTING = "reconnecting", "Reconnecting"
    ERROR = "error", "Error"
    STOPPING = "stopping", "Stopping"


class Protocol(models.TextChoices):
    MQTT311 = "3.1.1", "MQTT 3.1.1"
    MQTT5 = "5", "MQTT 5"


# What a listener needs to open and subscribe a connection: a change to any of these means reconnecting.
BROKER_FIELDS = (
    "host",
    "port",
    "protocol",
    "keepalive",
    "client_id",
    "username",
    "password",
    "tls_enabled",
    "tls_ca_certs",
    "tls_client_cert",
    "tls_client_key",
    "tls_insecure",
    "topics",
)


MAX_KEEP_RAW_DAYS = 3650


class MqttConnection(LockingDeleteModel):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=200)

    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=1883, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.MQTT311)
    keepalive = models.PositiveIntegerField(default=60, validators=[MinValueValidator(5), MaxValueValidator(65535)])
    # A default (not only save()) so that rows made with bulk_create get one too.
    client_id = models.CharField(
        max_length=128,
        blank=True,
        default=new_client_id,
        validators=[validate_no_control_characters],
        help_text="Stable MQTT client id (persistent sessions follow it); left empty, a random 'mqttmon-…' is stored.",
    )
    username = models.CharField(max_length=255, blank=True, validators=[validate_no_control_characters])
    # Encrypted at rest (mqtt_app/crypto.py), write-only in the API and the admin, never logged.
    password = EncryptedTextField(blank=True, validators=[MaxLengthValidator(4096), validate_no_control_characters])

    tls_enabled = models.BooleanField(default=False)
    tls_ca_certs = models.TextField(
        blank=True, validators=[validate_pem_text], help_text="PEM of the CA to trust; empty uses the system store."
    )
    tls_client_cert = models.TextField(
        blank=True, validators=[validate_pem_text], help_text="PEM client certificate (optional)."
    )
    tls_client_key = EncryptedTextField(
        blank=True, validators=[validate_pem_text], help_text="PEM client key (optional; encrypted, write-only)."
    )
    tls_insecure = models.BooleanField(default=False, help_text="Skip certificate verification (explicit opt-in).")

    topics = models.JSONField(default=default_topics, validators=[validate_subscriptions])

    is_active = models.BooleanField(default=True, help_text="Desired state: should this connection run?")
    sparkplug_rebirth = models.BooleanField(
        default=False,
        help_text="Ask Sparkplug B edge nodes for a rebirth (NCMD) after a seq gap or an unknown alias: the only "
        "case in which the monitor publishes.",
    )
    keep_raw_days = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_KEEP_RAW_DAYS)],
        help_text="Keep its topics' raw payloads this many days for re-parsing (0: off).",
    )
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.STOPPED)
    status_detail = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    listener = models.CharField(max_length=200, blank=True, help_text="Id of the listener process holding it.")
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_connected_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    messages_received = models.BigIntegerField(default=0)
    # Bumped by each stored batch with its final counts, never lowered (retention deletes IngestBatch rows):
    # the Prometheus counters of /metrics, read without summing batches.
    messages_stored = models.BigIntegerField(default=0, help_text="Messages processed without a parse error.")
    messages_failed = models.BigIntegerField(default=0, help_text="Messages that failed to parse.")
    readings_stored = models.BigIntegerField(default=0)
    connect_count = models.PositiveIntegerField(default=0, help_text="Successful connects (restarts + 1).")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LockingDeleteQuerySet.as_manager()
    connection_lookup = "pk"

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="mqtt_connection_unique_name_per_site"),
            models.CheckConstraint(condition=models.Q(port__gte=1, port__lte=65535), name="mqtt_connection_port_range"),
        ]
        indexes = [models.Index(fields=["is_active", "status"], name="mqtt_conn_active_status")]

    def __str__(self) -> str:
        return f"{self.site} / {self.name}"

    @property
    def effective_client_id(self) -> str:
        # Rows always store one (save() and migration 0009); the fallback only covers rows written around save().
        return self.client_id or f"mqttmon-{self.pk}"

    def save(self, *args, **kwargs) -> None:
        if not self.client_id:
            self.client_id = new_client_id()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "client_id"}
        super().save(*args, **kwargs)

    @property
    def restart_count(self) -> int:
        return max(self.connect_count - 1, 0)

    def clean(self) -> None:
        super().clean()
        errors = {}
        host_error = broker_host_error(self.host)
        if host_error:
            errors["host"] = host_error
        if self.tls_client_key and not self.tls_client_cert:
            errors["tls_client_cert"] = "A client key needs a client certificate."
        if errors:
            raise ValidationError(errors)
        self.host = self.host.strip()
