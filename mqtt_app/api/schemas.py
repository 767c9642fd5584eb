"""Shapes shared by the routers: the error format, sites and connections."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, SecretStr

from mqtt_app.models import ConnectionStatus


class Out(BaseModel):
    """Base of the response shapes: plain Pydantic. Ninja's Schema wraps every nested object in an attribute
    getter (~0.2 ms per object), which made a page of 1,000 connections cost ~250 ms; these take ~5 ms."""


class FieldErrorOut(Out):
    field: str | None = Field(description="The input at fault ('port', 'tls.ca_certs', 'topics'); null: the whole.")
    message: str


class ErrorOut(Out):
    """Every error the API returns (400, 401, 403, 404, 409, 422, 503)."""

    detail: str = Field(description="One readable sentence.")
    errors: list[FieldErrorOut] = Field(default_factory=list, description="Per-field reasons, for forms.")


class In(Schema):
    """Base of every request body: a field the endpoint does not know is a 422 naming it, never silently ignored
    (a misspelt `is_procesable` would otherwise answer 200 and change nothing)."""

    model_config = ConfigDict(extra="forbid")


ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
ERRORS_WRITE = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- sites ----------------------------------------------------------------------------------------
class SiteOut(Out):
    id: int
    name: str
    slug: str
    description: str


class SiteIn(In):
    name: str
    slug: str = Field("", description="Derived from the name when empty.")
    description: str = ""


class SitePatch(In):
    name: str | None = None
    slug: str | None = None
    description: str | None = None


# --- connections ----------------------------------------------------------------------------------
class Subscription(Out):
    filter: str = Field(description="MQTT topic filter, e.g. 'sensors/#'.")
    qos: int = Field(1, description="0, 1 or 2.")


class TlsOut(Out):
    enabled: bool
    ca_certs: str = Field(description="PEM of the CA to trust; empty uses the system store.")
    client_cert: str
    has_client_key: bool = Field(description="Whether a client key is stored (the key itself is write-only).")
    insecure: bool = Field(description="Certificate verification skipped (explicit opt-in).")


class TlsIn(In):
    enabled: bool | None = None
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: SecretStr | None = Field(None, description="PEM client key. Write-only; empty string removes it.")
    insecure: bool | None = None


Protocol = Literal["3.1.1", "5"]


class ConnectionOut(Out):
    id: int
    site: int
    site_name: str
    name: str
    host: str
    port: int
    protocol: str
    keepalive: int
    client_id: str = Field(description="As stored; a connection created without one gets a random 'mqttmon-…'.")
    effective_client_id: str
    username: str
    has_password: bool = Field(description="Whether a password is stored (the password itself is write-only).")
    tls: TlsOut
    topics: list[Subscription]
    is_active: bool = Field(description="Desired state: should this connection run?")
    keep_raw_days: int = Field(description="Days its topics' raw payloads are archived for re-parsing (0: off).")
    sparkplug_rebirth: bool = Field(description="Sparkplug B edge nodes are asked for a rebirth after a seq gap.")
    status: ConnectionStatus = Field(description="Actual state, reported by the listeners.")
    status_detail: str
    status_changed_at: datetime | None
    last_connected_at: datetime | None
    last_message_at: datetime | None
    last_heartbeat_at: datetime | None
    listener: str
    messages_received: int
    restart_count: int
    created_at: datetime
    updated_at: datetime


class ConnectionPatch(In):
    site: int | None = None
    name: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: Protocol | None = None
    keepalive: int | None = None
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = Field(None, description="Write-only; never returned. Empty string removes it.")
    tls: TlsIn | None = None
    topics: list[Subscription] | None = None
    is_active: bool | None = None
    keep_raw_days: int | None = Field(None, description="Archive its topics' raw payloads this many days (0: off).")
    sparkplug_rebirth: bool | None = Field(None, description="Publish Sparkplug B rebirth commands (off by default).")


class ConnectionIn(ConnectionPatch):
    site: int
    name: str
    host: str
    port: int = 1883
    protocol: Protocol = "3.1.1"
    keepalive: int = 60


class ControlOut(Out):
    """The answer to start/stop: the desired state is set; the listeners converge within about a second."""

    id: int
    is_active: bool = Field(description="Desired state, as just set.")
    status: ConnectionStatus = Field(description="Actual state right now (changes once a listener acts).")
    status_detail: str
    listener: str
    changed: bool = Field(description="False when the connection was already in that desired state.")


class ConnectionEventOut(Out):
    id: int
    event: str
    status: str
    detail: str
    listener: str
    created_at: datetime
