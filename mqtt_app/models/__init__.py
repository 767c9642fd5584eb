"""The data model of ARCHITECTURE.md (app label `mqtt`)."""

from __future__ import annotations

from .access import ROLE_RANK, Role, SiteRole
from .audit import AuditEntry
from .connections import ConnectionStatus, MqttConnection, Protocol, Site
from .dead_letters import DeadLetter
from .logs import ConnectionEvent, MqttConnectionLog, MqttParsingLog, ParseErrorKind
from .readings import IngestBatch, TelemetryReading, ValueType
from .rollups import RolledLateReading, RollupState, SeriesRollup
from .tokens import ApiToken
from .topics import MqttTopic

__all__ = [
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
    "ROLE_RANK",
    "Role",
    "RolledLateReading",
    "RollupState",
    "SeriesRollup",
    "Site",
    "SiteRole",
    "TelemetryReading",
    "ValueType",
]
