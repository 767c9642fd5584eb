"""The data model of ARCHITECTURE.md (app label `mqtt`)."""

from __future__ import annotations

# Alerting models live with the rest of alerting (mqtt_app/alerts/); imported here so the app registers them.
from mqtt_app.alerts.models import Alert, AlertRule, NotificationChannel

from .access import ROLE_RANK, Role, SiteRole
from .audit import AuditEntry
from .connections import ConnectionStatus, MqttConnection, Protocol, Site
from .dead_letters import DeadLetter
from .logs import ConnectionEvent, MqttConnectionLog, MqttParsingLog, ParseErrorKind
from .raw import RawMessage, ReparseJob, ReparseState
from .readings import IngestBatch, TelemetryReading, ValueType
from .rollups import RolledLateReading, RollupState, SeriesRollup
from .series import ReadingSeries
from .sparkplug import SparkplugHost, SparkplugNode
from .tokens import ApiToken
from .topics import MqttTopic

__all__ = [
    "Alert",
    "AlertRule",
    "NotificationChannel",
    "ApiToken",
    "AuditEntry",
    "ConnectionEvent",
    "ConnectionStatus",
    "DeadLetter",
    "IngestBatch",
    "MqttConnection",
    "MqttConnectionLog",
    "MqttParsingLog",
    "MqttTopic",
    "ParseErrorKind",
    "Protocol",
    "RawMessage",
    "ReadingSeries",
    "ReparseJob",
    "ReparseState",
    "ROLE_RANK",
    "Role",
    "RolledLateReading",
    "RollupState",
    "SeriesRollup",
    "Site",
    "SiteRole",
    "SparkplugHost",
    "SparkplugNode",
    "TelemetryReading",
    "ValueType",
]
