"""Shapes of the alerting API: rules with their channels, and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field

from .schemas import In, Out

Kind = Literal["connection_down", "topic_silent", "parse_errors", "threshold", "device_offline"]
ChannelKind = Literal["webhook", "email", "apprise"]


class ChannelIn(In):
    type: ChannelKind
    url: str | None = Field(None, description="webhook: the http(s) URL; apprise: the Apprise URL.")
    to: str | None = Field(None, description="email: the address, or several, comma-separated.")
    secret: str | None = Field(None, description="webhook: the HMAC key; generated when left out.")


class ChannelOut(Out):
    id: int
    type: str
    url: str | None = Field(None, description="Managers of the site only (it may hold a token).")
    to: str | None = Field(None, description="Managers of the site only.")
    secret: str | None = Field(None, description="webhook, managers of the site only: the HMAC-SHA256 key.")


class RulePatch(In):
    name: str | None = None
    kind: Kind | None = None
    site: int | None = Field(None, description="Scope: exactly one of site, connection, topic.")
    connection: int | None = None
    topic: int | None = None
    filter: str | None = Field(None, description="MQTT topic filter narrowing the topics ('' for all).")
    metric: str | None = None
    op: Literal["gt", "lt"] | None = None
    value: float | None = None
    clear_value: float | None = None
    for_seconds: int | None = Field(None, ge=0)
    is_enabled: bool | None = None
    channels: list[ChannelIn] | None = Field(None, description="Replaces the rule's channels.")


class RuleIn(RulePatch):
    name: str
    kind: Kind
    filter: str = ""
    metric: str = ""
    for_seconds: int = Field(60, ge=0)
    is_enabled: bool = True
    channels: list[ChannelIn] = Field(default_factory=list)


class RuleOut(Out):
    id: int
    name: str
    kind: str
    site: int
    connection: int | None
    topic: int | None
    filter: str
    metric: str
    op: str | None
    value: float | None
    clear_value: float | None
    for_seconds: int
    is_enabled: bool
    channels: list[ChannelOut]
    firing: int = Field(description="Alerts of this rule open now (firing or acknowledged).")
    created_at: datetime
    updated_at: datetime


class ChannelTestOut(Out):
    id: int
    type: str
    ok: bool
    error: str = ""


class RuleTestOut(Out):
    channels: list[ChannelTestOut]


class AlertOut(Out):
    id: int
    state: str = Field(description="firing, acknowledged or resolved.")
    rule: int
    rule_name: str
    kind: str
    site: int
    connection: int | None
    topic: int | None
    subject: str
    value: float | None
    since: datetime
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str = Field(description="The user name of who acknowledged it, or ''.")
    resolved_at: datetime | None
    url: str
