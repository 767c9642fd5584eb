"""`GET /api/connections/{id}/sparkplug`: the connection's Sparkplug B edge nodes and devices as a tree, with
their online state, births and the counts of what did not add up (seq gaps, DATA before BIRTH)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router

from mqtt_app.models import MqttConnection
from mqtt_app.sparkplug.tree import sparkplug_tree

from . import auth
from .auth import ApiRequest
from .schemas import ERRORS_READ, Out
from .writes import get_for

router = Router(tags=["sparkplug"], auth=auth.readers())


class SparkplugMetricOut(Out):
    name: str
    alias: int | None
    datatype: str = Field(description="The Sparkplug datatype's name, e.g. Int32, Float, String.")
    unit: str = Field(description="The engineering unit from the BIRTH's properties, or empty.")


class SparkplugStateOut(Out):
    is_online: bool = Field(description="BIRTH seen and no DEATH since.")
    births: int
    data_before_birth: int = Field(description="DATA messages that came before any BIRTH.")
    unresolved_metrics: int = Field(description="DATA metrics (by alias) that no BIRTH named: not stored.")
    last_birth_at: datetime | None
    last_death_at: datetime | None
    last_message_at: datetime | None
    metrics: list[SparkplugMetricOut] = Field(description="The BIRTH certificate.")


class SparkplugDeviceOut(SparkplugStateOut):
    device: str


class SparkplugEdgeNodeOut(SparkplugStateOut):
    edge_node: str
    bd_seq: int | None = Field(description="The birth/death sequence number of the current session.")
    seq_gaps: int = Field(description="Messages whose seq was not the next one (mod 256).")
    stale_deaths: int = Field(description="NDEATHs of an older session (another bdSeq), ignored.")
    rebirths_requested: int = Field(description="Rebirth commands sent (connections with sparkplug_rebirth on).")
    last_rebirth_request_at: datetime | None
    devices: list[SparkplugDeviceOut]


class SparkplugGroupOut(Out):
    group: str
    edge_nodes: list[SparkplugEdgeNodeOut]


class SparkplugHostOut(Out):
    host: str
    is_online: bool
    timestamp: datetime | None = Field(description="The host application's own time of its STATE.")
    updated_at: datetime


class SparkplugTreeOut(Out):
    connection: int
    groups: list[SparkplugGroupOut]
    hosts: list[SparkplugHostOut]


@router.get(
    "/connections/{connection_id}/sparkplug", response={200: SparkplugTreeOut, **ERRORS_READ},
    summary="Sparkplug B groups, edge nodes and devices of a connection",
)  # fmt: skip
def get_sparkplug(request: ApiRequest, connection_id: int) -> dict:
    connection = get_for(request.auth, MqttConnection.objects.only("pk", "site_id"), connection_id, "connection")
    return sparkplug_tree(connection.pk)
